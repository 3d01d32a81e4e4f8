"""A terminal progress bar on stderr for long runs (many Monte Carlo samples, the offline plan)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``stage(name)`` starts a step, ``update(fraction)`` moves the bar; redraws only on a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.name = ""
        self.started = time.perf_counter()
        self._last = -1

    def stage(self, name: str) -> None:
        self.finish()
        self.name, self.started, self._last = name, time.perf_counter(), -1
        if not self.tty:
            self.stream.write(f"{name} ...\n")
            self.stream.flush()
        else:
            self.update(0.0)

    def update(self, fraction: float) -> None:
        if not self.tty:
            return
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        if filled == self._last:
            return
        self._last = filled
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.name} {fraction * 100:3.0f}%")
        self.stream.flush()

    def finish(self) -> None:
        if self.name and self.tty:
            self.update(1.0)
            self.stream.write(f"  {time.perf_counter() - self.started:.1f} s\n")
            self.stream.flush()
        self.name = ""
