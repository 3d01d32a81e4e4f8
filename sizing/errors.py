"""One error type for bad input: it names the file, the field path and what is allowed.

Every check on user input raises :class:`InputError`; the command line prints it on one line and
exits 2, so a user never sees a traceback for a mistake in a forecast, a models file or a flag.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input, located precisely: ``FILE: field.path: what is wrong; what is allowed``."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        return f"{where}: {self.message}"
