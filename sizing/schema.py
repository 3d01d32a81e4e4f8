"""A small reader for nested YAML mappings that reports every mistake with its field path.

Why not a schema library: the checks the forecast needs (finite non-negative numbers, a closed
set of keys per mapping, a choice from a list, messages that say what is allowed) take less code
than wiring a dependency, and the messages stay ours.
"""

from __future__ import annotations

import math
import re
import reprlib
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from sizing.errors import InputError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the national example is 6 KiB; a forecast 100 times larger is still fine
MAX_DEPTH = 32  # nesting levels (the schemas need 5)
MAX_NODES = 100_000  # values after expanding aliases (a billion-laughs document is refused before it expands)
MAX_MAGNITUDE = 1e15  # no input of any schema is larger (demand, tokens, prices); beyond it products overflow
MIN_MAGNITUDE = 1e-12  # a non-zero input smaller than this is a typo (or a denormal) that rounds plans to 0
MAX_INT_DIGITS = 18
EXCERPT = 60  # characters of an offending value an error message may show

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#103-core-schema): no yes/no/on/off booleans, no
# octal 0400 or sexagesimal 1:30 numbers, 4e2 is a float. A leading-zero integer is refused outright:
# YAML 1.1 readers (PyYAML's default) take 0400 for octal 256, 1.2 readers for 400.
_INT = r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
_FLOAT = (r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
          r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_CORE: dict[str, tuple[str, list[str]]] = {
    "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    "tag:yaml.org,2002:int": (rf"^(?:{_INT})$", list("-+0123456789")),
    "tag:yaml.org,2002:float": (rf"^(?:{_FLOAT})$", list("-+0123456789.")),
    "tag:yaml.org,2002:null": (r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    "tag:yaml.org,2002:merge": (r"^(?:<<)$", ["<"]),
}
MERGE_TAG = "tag:yaml.org,2002:merge"
_NUMBER_TEXT = re.compile(rf"^(?:{_INT}|{_FLOAT})$")


class _RefusedError(Exception):
    """A document the strict reader refuses; carries the line (1-based) when known."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else None


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core scalars, unique keys and bounded nesting."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _RefusedError(f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        """A mapping whose own keys are unique (2029 and '2029' count as the same key) and are text or
        whole numbers; keys brought in by a merge (``<<: *defaults``) may be overridden, as YAML intends."""
        seen: dict[str, Any] = {}
        for key_node, _value in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, float) or not isinstance(key, (str, int)):
                raise _RefusedError(f"a key must be text or a whole number, got {_excerpt(key)}", key_node.start_mark)
            norm = str(key)
            if norm in seen:
                raise _RefusedError(f"duplicate key {_excerpt(norm)} (first on line {seen[norm].line + 1}): each "
                                   "key may appear once in a mapping", key_node.start_mark)
            seen[norm] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node))
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            raise _RefusedError(f"{text} has a leading zero (YAML 1.1 reads it as octal, 1.2 as decimal): "
                               "write it without the zero, or quote it if it is text", node.start_mark)
        if len(digits) > MAX_INT_DIGITS:
            raise _RefusedError(f"an integer of {len(digits)} digits ({_excerpt(text)}): at most "
                               f"{MAX_INT_DIGITS} digits", node.start_mark)
        return int(text, 0) if digits[:2] in ("0o", "0x") else int(text)


for _tag, (_pattern, _first) in _CORE.items():
    StrictLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


def _expanded_size(root: Any) -> int:
    """Values in the document once aliases are expanded, counted on the shared node graph (no expansion)."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise _RefusedError("an alias refers to the node that contains it (a recursive document)", node.start_mark)
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        active.discard(key)
        memo[key] = min(total, MAX_NODES + 1)
        return memo[key]

    return size(root)


def _read_text(p: Path) -> str:
    """The file's text: a regular file of at most MAX_FILE_BYTES, UTF-8."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise InputError(str(p), "", "file not found") from None
    except OSError as exc:
        raise InputError(str(p), "", f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(str(p), "", "is a directory, expected a YAML file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(str(p), "", "is not a regular file (a device, pipe or socket); expected a YAML file")
    if info.st_size > MAX_FILE_BYTES:
        raise InputError(str(p), "", f"is {info.st_size:,} bytes; a YAML input may be at most {MAX_FILE_BYTES:,}")
    try:
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(str(p), "", f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(str(p), "", f"is larger than {MAX_FILE_BYTES:,} bytes, the limit for a YAML input")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(p), "", f"is not UTF-8 text (byte {exc.start})") from None


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file strictly, turning I/O, syntax and every refusal into an :class:`InputError`.

    Strict means: YAML 1.2 core scalars, unique keys, keys that are text or whole numbers, at most
    MAX_DEPTH levels, at most MAX_NODES values after alias expansion (counted before anything expands),
    a regular file of at most MAX_FILE_BYTES, and error messages that quote only a short excerpt.
    """
    p = Path(path)
    return parse_yaml(_read_text(p), str(p))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text strictly (see :func:`load_yaml`); ``source`` names it in error messages."""
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(text)  # the reader already refuses control characters
        root = loader.get_single_node()
        if root is None:
            return None
        if _expanded_size(root) > MAX_NODES:
            raise _RefusedError(f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?)",
                               root.start_mark)
        return loader.construct_document(root)
    except _RefusedError as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise InputError(source, "", f"refused: {where}{exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(source, "", f"not valid YAML: {where}{_excerpt(problem, 200)}") from None
    except RecursionError:
        raise InputError(source, "", f"refused: nested too deeply (at most {MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()


_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxtuple = 2, 4, 4, 4
_repr.maxstring, _repr.maxother, _repr.maxlong = EXCERPT, EXCERPT, EXCERPT


def _excerpt(value: Any, limit: int = EXCERPT) -> str:
    """A short representation of any value, made without formatting the whole of a huge one."""
    text = repr(value[:limit + 1]) if isinstance(value, str) else _repr.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _describe(value: Any) -> str:
    return _excerpt(value)


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
        if isinstance(key, int) and not isinstance(key, bool):
            return f"{self.path}[{key}]"
        text = str(key)
        if not text.isprintable() or len(text) > EXCERPT:  # a field path stays one short line
            text = _excerpt(text)
        return f"{self.path}.{text}" if self.path else text

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
                self.fail(f"unknown value {_excerpt(value)}; allowed: {', '.join(options)}", key)
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
            self.fail(f"unknown field {_excerpt(unknown[0])}; allowed here: {allowed}", str(unknown[0]))


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
    """Validate one number: a real, finite number within bounds (booleans are not numbers).

    Every number is also within MAX_MAGNITUDE, and a non-zero one at least MIN_MAGNITUDE: no schema
    has a meaningful input outside that range, and such inputs make plans overflow to inf or round to 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str) and _NUMBER_TEXT.match(value.strip()):
            # the reader turns every unquoted number into one: this text was quoted
            raise InputError(source, path, f"must be a number, got the text {_excerpt(value)} (remove the quotes)")
        raise InputError(source, path, f"must be a number, got {_describe(value)}")
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        raise InputError(source, path, f"must be at most {MAX_MAGNITUDE:g} in size, got {_excerpt(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(source, path, f"must be a finite number, got {value!r}")
    if abs(number) > MAX_MAGNITUDE:
        raise InputError(source, path, f"must be at most {MAX_MAGNITUDE:g} in size, got {value!r}")
    if number != 0 and abs(number) < MIN_MAGNITUDE:
        raise InputError(source, path, f"must be 0 or at least {MIN_MAGNITUDE:g} in size, got {value!r}")
    if integer and number != int(number):
        raise InputError(source, path, f"must be a whole number, got {value!r}")
    if positive and number <= 0:
        raise InputError(source, path, f"must be greater than 0, got {value!r}")
    if minimum is not None and number < minimum:
        raise InputError(source, path, f"must be at least {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise InputError(source, path, f"must be at most {maximum:g}, got {value!r}")
    return number
