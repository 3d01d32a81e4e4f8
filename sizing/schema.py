"""A small reader for nested YAML mappings that reports every mistake with its field path.

Why not a schema library: the checks the forecast needs (finite non-negative numbers, a closed
set of keys per mapping, a choice from a list, messages that say what is allowed) take less code
than wiring a dependency, and the messages stay ours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from sizing.errors import InputError


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning I/O and syntax problems into an :class:`InputError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), "", "file not found") from None
    except IsADirectoryError:
        raise InputError(str(p), "", "is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(p), "", f"cannot be read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(str(p), "", f"not valid YAML: {where}{problem}") from None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Node:
    """A mapping being read, with its location; :meth:`done` rejects keys nobody asked for."""

    def __init__(self, data: Any, source: str, path: str = "") -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            self.fail(f"expected a mapping of fields, got {_describe(data)}")
        self.data: Mapping[str, Any] = data
        self._seen: set[str] = set()

    # -- locations ---------------------------------------------------------------------------
    def sub(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def fail(self, message: str, key: str | int | None = None) -> NoReturn:
        raise InputError(self.source, self.sub(key) if key is not None else self.path, message)

    # -- reading -----------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, *, required: bool = True) -> Any:
        self._seen.add(key)
        if key not in self.data:
            if required:
                self.fail("required field is missing", key)
            return None
        return self.data[key]

    def node(self, key: str) -> Node:
        return Node(self.raw(key), self.source, self.sub(key))

    def number(
        self,
        key: str,
        *,
        required: bool = True,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
        integer: bool = False,
    ) -> float | None:
        value = self.raw(key, required=required)
        if value is None:
            if required:
                self.fail("must be a number, got nothing", key)
            return None
        return check_number(
            value, self.source, self.sub(key), minimum=minimum, maximum=maximum,
            positive=positive, integer=integer,
        )

    def text(self, key: str, *, required: bool = True, choices: Iterable[str] | None = None) -> str | None:
        value = self.raw(key, required=required)
        if value is None:
            if required:
                self.fail("must be text, got nothing", key)
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be non-empty text, got {_describe(value)}", key)
        if choices is not None:
            options = list(choices)
            if value not in options:
                self.fail(f"unknown value {value!r}; allowed: {', '.join(options)}", key)
        return value

    def flag(self, key: str, *, required: bool = False) -> bool | None:
        value = self.raw(key, required=required)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {_describe(value)}", key)
        return value

    def items(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            self.fail(f"must be a non-empty list, got {_describe(value)}", key)
        return value

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self._seen]
        if unknown:
            allowed = ", ".join(sorted(self._seen)) or "(none)"
            self.fail(f"unknown field {unknown[0]!r}; allowed here: {allowed}", str(unknown[0]))


def check_number(
    value: Any,
    source: str,
    path: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    integer: bool = False,
) -> float:
    """Validate one number: a real, finite number within bounds (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                pass
            else:
                raise InputError(source, path, f"must be a number, got the text {value!r} (remove the quotes)")
        raise InputError(source, path, f"must be a number, got {_describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(source, path, f"must be a finite number, got {value!r}")
    if integer and number != int(number):
        raise InputError(source, path, f"must be a whole number, got {value!r}")
    if positive and number <= 0:
        raise InputError(source, path, f"must be greater than 0, got {value!r}")
    if minimum is not None and number < minimum:
        raise InputError(source, path, f"must be at least {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise InputError(source, path, f"must be at most {maximum:g}, got {value!r}")
    return number
