"""The one boundary between the account checks (preflight, verify) and AWS.

Everything that can go wrong talking to AWS is turned into a reason and a fix here, so each check
can say "could not check X: why; fix" instead of raising, and never reads a finding into an answer
it could not read:

- clients are created lazily, on the first call *inside* a check (a bad region, a missing
  AWS_PROFILE, a bad AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS or AWS_RETRY_MODE fail there, not before);
- every client has finite connect and read timeouts, and a per-run time :class:`Budget` refuses to
  send another request once it is spent, so one dead service cannot stall the run;
- :func:`need` and :func:`pages` read an answer only through the keys the API promises; an answer
  without them (an empty or garbage body parsed as ``{}``) raises :class:`UnreadableError`;
- :func:`explain` maps any failure (botocore's ``ResponseParserError`` is not a ``BotoCoreError``)
  to a one-line reason and a fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PaginationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
BUDGET_S = 120.0
MAX_PAGES = 1000  # 1,000 pages of up to 1,000 items: far beyond any factory; a loop that never ends stops here
FILTER_VALUES = 200  # EC2 refuses a filter with more values than this
# Global Accelerator is global, but its API is served from US West (Oregon) only: "you must specify the US West
# (Oregon) Region to create, update, or otherwise work with accelerators" (AWS Global Accelerator API reference,
# CreateAccelerator; boto3's globalaccelerator docs). Verify only lists there, whatever the factory's region.
GA_REGION = "us-west-2"

CREDENTIAL_CODES = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                    "AuthFailure", "InvalidAccessKeyId", "SignatureDoesNotMatch", "IncompleteSignature",
                    "RequestExpired", "InvalidToken"}
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden",
                "AuthorizationError", "UnauthorizedException"}
THROTTLE_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                  "RequestThrottled", "SlowDown", "ThrottledException", "RequestThrottledException"}
FIX_CREDENTIALS = ("refresh the credentials (aws sts get-caller-identity must work: aws sso login, or a valid "
                   "AWS_PROFILE / AWS_ACCESS_KEY_ID)")
FIX_NETWORK = "check the network path to AWS (AWS_ENDPOINT_URL, proxy, VPC endpoints) and retry"
FIX_LATER = "AWS answered with an error or an unreadable page: retry later; if it persists, check AWS_ENDPOINT_URL"


class UnreadableError(Exception):
    """An answer that does not have the shape the API promises: nothing can be concluded from it."""


class OutOfTimeError(Exception):
    """The run's time budget is spent: the request was not sent."""


class Budget:
    """Wall-clock seconds for all AWS requests of one run; checked before every request is sent."""

    def __init__(self, seconds: float = BUDGET_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.deadline = clock() + seconds

    @property
    def spent(self) -> bool:
        return self.clock() >= self.deadline

    def guard(self, **_: Any) -> None:
        """botocore ``before-send`` hook: refuse to send once the budget is spent (retries included)."""
        if self.spent:
            raise OutOfTimeError(f"the run's time budget of {self.seconds:g} s for AWS calls is spent")


class LazyClient:
    """A boto3 client created on first use, so that creating it fails inside the check that uses it."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def session_clients(region: str, services: Mapping[str, str], budget: Budget, *,
                    connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S,
                    ) -> dict[str, LazyClient]:
    """Lazy clients (slot -> service) from one boto3 session, with timeouts and the budget's guard."""
    from botocore.config import Config

    session: list[Any] = []

    def make(service: str) -> Any:
        import boto3

        if not session:
            session.append(boto3.Session(region_name=region))  # a missing AWS_PROFILE raises here
        config = Config(connect_timeout=connect_timeout_s, read_timeout=read_timeout_s)
        client = session[0].client(service, config=config)
        client.meta.events.register("before-send", budget.guard)
        return client

    return {slot: LazyClient(lambda s=service: make(s)) for slot, service in services.items()}  # type: ignore[misc]


def need(answer: Any, key: str) -> Any:
    """``answer[key]``, or :class:`UnreadableError` when the answer lacks a key the API always returns."""
    if not isinstance(answer, Mapping) or key not in answer:
        raise UnreadableError(f"the answer has no {key!r} (an empty or garbled body)")
    return answer[key]


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paged operation, each page checked for ``key``; at most MAX_PAGES pages.

    botocore's paginator where the operation has one (it also stops on a repeated token), else NextToken.
    """
    if client.can_paginate(operation):
        source: Iterator[Any] = iter(client.get_paginator(operation).paginate(**kwargs))
    else:
        source = _token_pages(getattr(client, operation), kwargs)
    items: list[Any] = []
    for n, page in enumerate(source):
        if n >= MAX_PAGES:
            raise UnreadableError(f"{operation} returned more than {MAX_PAGES} pages")
        value = need(page, key)
        if not isinstance(value, list):
            raise UnreadableError(f"{operation}: {key!r} is not a list")
        items += value
    return items


def _token_pages(call: Callable[..., Any], kwargs: dict[str, Any]) -> Iterator[Any]:
    seen: set[str] = set()
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken") if isinstance(page, Mapping) else None
        if not token:
            return
        if token in seen:
            raise UnreadableError("the same NextToken came back twice")
        seen.add(token)


def chunks(values: Sequence[str], size: int = FILTER_VALUES) -> Iterator[list[str]]:
    """Filter values in slices EC2 accepts (at most 200 values per filter)."""
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "")
    return ""


def _client_error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    code, status = error_code(exc), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = _short(str(err.get("Message") or ""))
    if message.startswith("<"):  # an HTML or XML page where the API's error was expected
        message = "an error page instead of the API's answer"
    why = f"{exc.operation_name} failed: {code or status}{': ' + message if message else ''}"
    if code in CREDENTIAL_CODES:
        return why, FIX_CREDENTIALS
    if code in DENIED_CODES or status == 403:
        return why, f"allow {exc.operation_name} for these credentials (IAM policy, SCP or permission boundary)"
    if code in THROTTLE_CODES or status == 429:
        return why + " (still throttled after the SDK's retries)", "retry later, or raise AWS_MAX_ATTEMPTS"
    if isinstance(status, int) and status >= 500:
        return why, FIX_LATER
    return why, "check the request's inputs (region, names, ids) and the credentials' permissions"


def explain(exc: BaseException) -> tuple[str, str]:
    """Why a check could not be made, and the fix, from any exception raised while talking to AWS."""
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return f"no usable credentials ({_short(str(exc))})", FIX_CREDENTIALS
    if isinstance(exc, ProfileNotFound):
        return _short(str(exc)), "set AWS_PROFILE to a profile in ~/.aws/config, or unset it"
    if isinstance(exc, NoRegionError):
        return "no region", "pass --region"
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return f"AWS did not answer in time ({_short(str(exc))})", FIX_NETWORK
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS ({_short(str(exc))})", FIX_NETWORK
    if isinstance(exc, ResponseParserError):
        return "AWS answered with a page that is not the API's format", FIX_LATER
    if isinstance(exc, UnicodeError):
        return "AWS answered with bytes that are not text", FIX_LATER
    if isinstance(exc, (UnreadableError, PaginationError)):
        return f"AWS's answer could not be read: {_short(str(exc))}", FIX_LATER
    if isinstance(exc, OutOfTimeError):
        return str(exc), "rerun when the slow service answers, or give the run more time (--time-budget)"
    if isinstance(exc, BotoCoreError):
        return _short(str(exc)), ("check --region, AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the "
                                  "AWS config file")
    if isinstance(exc, ValueError):  # botocore's configuration checks raise plain ValueErrors
        return f"bad AWS configuration: {_short(str(exc))}", ("check --region, AWS_ENDPOINT_URL (a URL), "
                                                                "AWS_MAX_ATTEMPTS (a whole number) and "
                                                                "AWS_RETRY_MODE (legacy, standard or adaptive)")
    if isinstance(exc, (KeyError, IndexError, TypeError)):
        return f"AWS's answer could not be read ({type(exc).__name__}: {_short(str(exc))})", FIX_LATER
    if isinstance(exc, OSError):
        return f"network error: {_short(str(exc))}", FIX_NETWORK
    return f"{type(exc).__name__}: {_short(str(exc))}", "this is a bug in the check: please report it"


def _short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (error bodies can be whole HTML pages)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."
