"""A fault-injecting HTTP proxy for AWS API calls, in front of moto's server on 127.0.0.1.

The proxy reads the service from each request's SigV4 credential scope and, when a fault is set for
that service (or for "*"), answers with it instead of forwarding: an HTML 500 page, 503, throttling,
access denied, expired credentials, a garbage, empty or truncated body, a connection reset, or a hang.
Loopback only; every wait is bounded by ``release`` so a test run never stalls.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("html500", "unavailable503", "throttle", "denied", "expired", "garbage", "empty", "truncated", "reset",
          "hang")
JSON_SERVICES = {"kms", "cloudtrail", "servicequotas", "sagemaker", "bedrock"}
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def _error_body(service: str, code: str, message: str) -> tuple[str, bytes, dict[str, str]]:
    """An AWS error answer in the service's protocol (content type, body, extra headers)."""
    if service in JSON_SERVICES:
        return ("application/x-amz-json-1.1", json.dumps({"__type": code, "message": message}).encode(),
                {"x-amzn-ErrorType": code})
    if service == "ec2":
        body = f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>" \
               "<RequestID>fault</RequestID></Response>"
    elif service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    else:
        body = f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>" \
               "</Error><RequestId>fault</RequestId></ErrorResponse>"
    return "text/xml", body.encode(), {}


CODES = {  # fault -> (status, code per protocol family: json, ec2, other)
    "throttle": (400, ("ThrottlingException", "RequestLimitExceeded", "Throttling")),
    "denied": (403, ("AccessDeniedException", "UnauthorizedOperation", "AccessDenied")),
    "expired": (400, ("ExpiredTokenException", "AuthFailure", "ExpiredToken")),
    "unavailable503": (503, ("ServiceUnavailableException", "Unavailable", "ServiceUnavailable")),
}


class FaultProxy:
    """Forward to ``upstream`` (host, port) unless a fault is set for the request's service."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.faults: dict[str, str] = {}
        self.release = threading.Event()
        self.seen: list[tuple[str, str]] = []  # (service, fault or "") per request
        self.cache: dict[bytes, tuple[int, dict[str, str], bytes]] = {}  # static answers moto is slow to build
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any  # noqa: N815

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets and hangs end connections abruptly on purpose

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def set(self, fault: str | None, service: str = "*") -> None:
        self.faults = {} if fault is None else {service: fault}

    # -- one request ----------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        match = SCOPE.search(h.headers.get("Authorization") or "")
        service = match.group(1) if match else "?"
        fault = self.faults.get(service) or self.faults.get("*") or ""
        self.seen.append((service, fault))
        if fault == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        if fault == "hang":
            self.release.wait(30)
            h.close_connection = True
            return
        if fault in CODES:
            status, (json_code, ec2_code, other) = CODES[fault]
            code = json_code if service in JSON_SERVICES else ec2_code if service == "ec2" else other
            ctype, payload, extra = _error_body(service, code, f"injected {fault}")
            return self._answer(h, status, ctype, payload, extra)
        if fault == "html500":
            return self._answer(h, 500, "text/html", b"<html><body><h1>500 Internal Server Error</h1>"
                                b"<p>nginx</p></body></html>")
        if fault == "garbage":
            return self._answer(h, 200, "application/octet-stream", bytes(range(256)) * 4)
        if fault == "empty":
            return self._answer(h, 200, "text/plain", b"")
        if b"Action=DescribeVpcEndpointServices" in body:  # moto builds this static list in ~1 s per call
            if body not in self.cache:
                self.cache[body] = self._forward(h, body)
            status, headers, payload = self.cache[body]
        else:
            status, headers, payload = self._forward(h, body)
        if fault == "truncated":
            payload = payload[: len(payload) // 2]
        self._answer(h, status, headers.get("Content-Type", "text/xml"), payload,
                     {k: v for k, v in headers.items() if k.lower().startswith("x-amz")})

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "content-length")}
            conn.request(h.command, h.path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            conn.close()

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, ctype: str, payload: bytes,
                extra: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(payload)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(payload)
