"""Reading documents that come from outside: API bodies, uploaded model cards, fetched evidence.

Every reader here is bounded (bytes, nesting, number of values) and strict about what it hands
back: plain JSON values that the database can store as they are, so a hostile document is refused
with a message that says where, instead of exhausting the stack, the memory or the database.

- ``load_json``: JSON with a nesting limit checked before the parser recurses.
- ``load_yaml``: YAML through PyYAML's safe loader, with dates and timestamps turned into ISO 8601
  strings, ``!!binary`` and ``!!set`` refused (JSON has neither), and aliases expanded under a
  budget, so a few hundred bytes cannot stand for millions of values.
- ``check_storable``: what a JSON column and a text column accept: finite numbers, strings without
  NUL characters or lone surrogates, string-like keys, bounded nesting and size, no cycles.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
from typing import Any

import yaml

MAX_DEPTH = 64
MAX_VALUES = 100_000
MAX_YAML_BYTES = 256 * 1024

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class UntrustedInputError(ValueError):
    """The document is refused; ``message`` says where and why, ``line`` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def json_nesting(raw: bytes | str, limit: int) -> int:
    """How deeply the JSON text nests arrays and objects, counted up to ``limit + 1``.

    Strings are skipped first, so brackets inside them do not count; the text need not be valid
    JSON (the parser judges that later, once it cannot recurse too deep)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for char in brackets:
        if char in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise UntrustedInputError(f"{name} is not a number JSON allows; write a finite number")


def load_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH, allow_non_finite: bool = False) -> Any:
    """Parse JSON text (UTF-8, an optional BOM) nested at most ``max_depth`` deep.

    ``NaN`` and ``Infinity`` are refused unless ``allow_non_finite`` (some evaluation tools write
    them for undefined metrics; the caller then judges each value)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UntrustedInputError(f"byte {exc.start}: not UTF-8 text") from exc
    else:
        text = raw.removeprefix("\ufeff")
    if json_nesting(text, max_depth) > max_depth:
        raise UntrustedInputError(f"nested deeper than {max_depth} levels of arrays and objects")
    try:
        if allow_non_finite:
            return json.loads(text)
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise UntrustedInputError(f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})",
                                  line=exc.lineno) from exc
    except RecursionError as exc:  # not reached with a sane max_depth; kept so nothing escapes
        raise UntrustedInputError("nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        if isinstance(exc, UntrustedInputError):
            raise
        raise UntrustedInputError(f"a value cannot be read: {exc}") from exc


# --- YAML ---------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """The safe loader, minus the values JSON cannot hold."""


def _timestamp_as_iso(loader: _Loader, node: yaml.Node) -> str:
    value = yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    return value.isoformat()


def _refuse(tag: str, advice: str) -> Any:
    def construct(loader: _Loader, node: yaml.Node) -> Any:
        raise yaml.constructor.ConstructorError(None, None, f"{tag} values are not supported; {advice}",
                                                node.start_mark)
    return construct


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_iso)
_Loader.add_constructor("tag:yaml.org,2002:binary", _refuse("!!binary", "put text there"))
_Loader.add_constructor("tag:yaml.org,2002:set", _refuse("!!set", "write a list"))


def load_yaml(text: str, *, max_bytes: int = MAX_YAML_BYTES, max_depth: int = MAX_DEPTH,
              max_values: int = MAX_VALUES) -> Any:
    """One YAML document as JSON values. Syntax errors raise ``yaml.YAMLError`` (with its mark);
    everything else this refuses raises ``UntrustedInputError``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise UntrustedInputError(f"{size} bytes of YAML; at most {max_bytes} are read")
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError as exc:
        raise UntrustedInputError("nested too deeply") from exc
    except yaml.YAMLError:
        raise
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise UntrustedInputError(f"a value cannot be read: {exc}") from exc
    check_storable(value, max_depth=max_depth, max_values=max_values)
    return value


# --- what may be stored ------------------------------------------------------------------------


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored in a text column, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (not valid Unicode)"
    return None


def printable(value: str) -> str:
    """The string with NUL characters and lone surrogates written as escapes, so a message that
    quotes hostile input can still be stored and shown."""
    if "\x00" not in value and value.isascii():
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def fit_identifier(value: str, limit: int) -> str:
    """An identifier that fits a column of ``limit`` characters: a longer one keeps its start and a
    digest of the whole, so two long identifiers never collapse into one."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{value[:limit - 17]}#{digest}"


def _path(where: str, key: object) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def check_storable(value: Any, *, where: str = "", max_depth: int = MAX_DEPTH,
                   max_values: int = MAX_VALUES) -> None:
    """Refuse what a JSON or text column would not take, naming the path of the first problem."""
    count = 0
    on_path: set[int] = set()

    def visit(item: Any, path: str, depth: int) -> None:
        nonlocal count
        count += 1
        if count > max_values:
            raise UntrustedInputError(f"more than {max_values} values (are aliases repeating a large part?)")
        label = path or "the document"
        if item is None or isinstance(item, bool | int):
            return
        if isinstance(item, float):
            if not math.isfinite(item):
                raise UntrustedInputError(f"{label} must be a finite number, got {item!r}")
            return
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise UntrustedInputError(f"{label}: {problem}")
            return
        if isinstance(item, list | tuple | dict):
            if depth >= max_depth:
                raise UntrustedInputError(f"{label}: nested deeper than {max_depth} levels")
            if id(item) in on_path:
                raise UntrustedInputError(f"{label}: refers to itself")
            on_path.add(id(item))
            if isinstance(item, dict):
                for key, sub in item.items():
                    if not isinstance(key, str | int | float | bool) and key is not None:
                        raise UntrustedInputError(f"{label}: a key of type {type(key).__name__} is not supported")
                    if isinstance(key, float) and not math.isfinite(key):
                        raise UntrustedInputError(f"{label}: the key {key!r} is not a finite number")
                    if isinstance(key, str) and text_problem(key):
                        raise UntrustedInputError(f"{label}: a key {text_problem(key)}")
                    visit(sub, _path(path, key), depth + 1)
            else:
                for index, sub in enumerate(item):
                    visit(sub, _path(path, index), depth + 1)
            on_path.discard(id(item))
            return
        if isinstance(item, datetime.date):
            raise UntrustedInputError(f"{label}: a date must be written as text")
        raise UntrustedInputError(f"{label}: a value of type {type(item).__name__} is not supported")

    visit(value, where, 0)
