"""Loading policy files: YAML, validated against a JSON Schema, cached by content hash.

A file is re-read when its modification time or size changes, so a new policy takes effect
without a restart; its SHA-256 is its version.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import jsonschema
import yaml

T = TypeVar("T")


class PolicyError(Exception):
    """A policy file could not be read, parsed or validated."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_and_validate(path: Path, raw: bytes, schema: dict[str, Any]) -> Any:
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(path, f"not valid YAML: {exc}") from exc
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PolicyError(path, f"schema error at {where}: {first.message}{more}")
    return document


@dataclass
class _Entry(Generic[T]):
    stamp: tuple[int, int]
    value: T


class CachedLoader(Generic[T]):
    """Parse a file once per content; ``build(path, raw)`` turns bytes into the policy object."""

    def __init__(self, build: Callable[[Path, bytes], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry[T]] = {}

    def load(self, path: Path) -> T:
        try:
            stat = path.stat()
        except OSError as exc:
            raise PolicyError(path, f"cannot be read: {exc.strerror or exc}") from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        key = str(path)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.stamp == stamp:
                return entry.value
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PolicyError(path, f"cannot be read: {exc.strerror or exc}") from exc
        value = self._build(path, raw)
        with self._lock:
            self._cache[key] = _Entry(stamp, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
