"""Loading policy files: YAML, validated against a JSON Schema, cached by content hash.

A file is re-read when its modification time or size changes, so a new policy takes effect
without a restart; its SHA-256 is its version. When a changed file no longer loads, the loader
keeps serving the last good version of it and says so loudly (log, ``problem()``); with no good
version at all it raises, and callers fail closed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import jsonschema
import yaml

T = TypeVar("T")
log = logging.getLogger("clearance.policy")


@dataclass(frozen=True)
class Problem:
    """One error in a policy file; ``line`` is 1-based, or None when it has no place."""

    message: str
    line: int | None = None


class PolicyError(Exception):
    """A policy file could not be read, parsed or validated (one or more problems)."""

    def __init__(self, path: Path | str, message: str = "", *, problems: Sequence[Problem] = ()) -> None:
        self.path = str(path)
        self.problems: list[Problem] = list(problems) or [Problem(message)]
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        where = f"{self.path}:{first.line}" if first.line else self.path
        self.message = first.message + more
        super().__init__(f"{where}: {self.message}")

    def lines(self) -> list[str]:
        """``FILE:LINE: message`` per problem, as editors and CI logs understand them."""
        return [f"{self.path}:{p.line}: {p.message}" if p.line else f"{self.path}: {p.message}"
                for p in self.problems]


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class LineMap:
    """Where each value of a YAML document starts, addressed by its JSON path."""

    def __init__(self, raw: bytes) -> None:
        try:
            self._root = yaml.compose(raw.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError):
            self._root = None

    def line(self, path: Sequence[str | int]) -> int | None:
        node = self._root
        if node is None:
            return None
        best = node.start_mark.line + 1
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        child = value
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
            if child is None:
                break
            node = child
            best = node.start_mark.line + 1
        return best


def parse_and_validate(path: Path, raw: bytes, schema: dict[str, Any]) -> Any:
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(path, f"not UTF-8 text: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(path, problems=[Problem(f"not valid YAML: {problem}", line)]) from exc
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = LineMap(raw)
        problems = []
        for error in errors:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            problems.append(Problem(f"schema error at {where}: {error.message}", lines.line(list(error.absolute_path))))
        raise PolicyError(path, problems=problems)
    return document


@dataclass
class _Entry(Generic[T]):
    stamp: tuple[int, int]
    digest: str
    value: T | None
    error: PolicyError | None


class CachedLoader(Generic[T]):
    """Parse a file once per content; ``build(path, raw)`` turns bytes into the policy object."""

    def __init__(self, build: Callable[[Path, bytes], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry[T]] = {}
        self._last_good: dict[str, T] = {}

    def _current(self, path: Path) -> _Entry[T]:
        key = str(path)
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError as exc:
            stamp = (-1, -1)
            error = PolicyError(path, f"cannot be read: {exc.strerror or exc}")
            return _Entry(stamp, "", None, error)
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None and entry.stamp == stamp:
            return entry
        try:
            raw = path.read_bytes()
        except OSError as exc:
            return _Entry(stamp, "", None, PolicyError(path, f"cannot be read: {exc.strerror or exc}"))
        digest = content_hash(raw)
        if entry is not None and entry.digest == digest:
            # Touched but unchanged: keep the parsed object, just remember the new stamp.
            entry = _Entry(stamp, digest, entry.value, entry.error)
        else:
            try:
                entry = _Entry(stamp, digest, self._build(path, raw), None)
            except PolicyError as exc:
                entry = _Entry(stamp, digest, None, exc)
                log.error("POLICY DOES NOT LOAD, %s", exc)
            except Exception as exc:  # fail closed: a bug in a builder is a policy that does not load
                entry = _Entry(stamp, digest, None, PolicyError(path, f"could not be built: {exc!r}"))
                log.exception("POLICY DOES NOT LOAD, %s", path)
        with self._lock:
            self._cache[key] = entry
            if entry.value is not None:
                self._last_good[key] = entry.value
        return entry

    def load(self, path: Path) -> T:
        """The file's policy; when it no longer loads, the last good one (raises if there is none)."""
        entry = self._current(path)
        if entry.value is not None:
            return entry.value
        with self._lock:
            last_good = self._last_good.get(str(path))
        if last_good is None:
            assert entry.error is not None
            raise entry.error
        log.error("serving the last good policy for %s; the file on disk does not load: %s", path, entry.error)
        return last_good

    def problem(self, path: Path) -> PolicyError | None:
        """Why the file on disk does not load (while ``load`` serves the last good version), or None."""
        return self._current(path).error

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._last_good.clear()
