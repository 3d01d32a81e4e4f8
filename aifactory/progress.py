"""A terminal progress bar on stderr for long runs (many Monte Carlo samples, calibration, the offline plan).

Silent unless stderr is a terminal, and silent when the command prints JSON (``quiet``): a pipe or a
log file gets no carriage-return noise. ``AIFACTORY_PROGRESS=plain`` asks for one plain line per stage
off a terminal instead (CI logs, and the tests that interrupt a run at a given stage).
``stage(name)`` starts a step; ``update(fraction)`` moves
its bar; a step with no measurable fraction (a fit, the Pulumi program) shows its elapsed time,
ticking from a background thread, inside ``with bar.ticking():``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """``stage(name)`` starts a step, ``update(fraction)`` moves the bar; draws only on a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        tty = self.stream.isatty()
        self.enabled = not quiet and tty
        self.plain = not quiet and not tty and os.environ.get("AIFACTORY_PROGRESS") == "plain"
        self.name = ""
        self.started = time.perf_counter()
        self._last = -1
        self._lock = threading.Lock()

    def stage(self, name: str) -> None:
        self.finish()
        self.name, self.started, self._last = name, time.perf_counter(), -1
        if self.plain:
            self._write(f"{name}\n")
        self.update(0.0)

    def update(self, fraction: float) -> None:
        if not self.enabled:
            return
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        if filled == self._last:
            return
        self._last = filled
        bar = "#" * filled + "-" * (self.width - filled)
        self._write(f"\r[{bar}] {self.name} {fraction * 100:3.0f}%")

    @contextmanager
    def ticking(self, every_s: float = 0.5) -> Iterator[None]:
        """Show the elapsed time of the current stage while the body runs (no fraction known)."""
        if not self.enabled:
            yield
            return
        done = threading.Event()

        def tick() -> None:
            while not done.wait(every_s):
                self._write(f"\r{self.name} ... {time.perf_counter() - self.started:.0f} s")

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self._write("\r" + " " * (len(self.name) + 16) + "\r")

    def finish(self) -> None:
        if self.name and self.enabled:
            self._last = -1
            self.update(1.0)
            self._write(f"  {time.perf_counter() - self.started:.1f} s\n")
        self.name = ""

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text)
            self.stream.flush()
