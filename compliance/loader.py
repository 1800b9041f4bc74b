"""The framework library: framework, mapping and crosswalk files read into frozen objects.

Every file is read with the bounded YAML reader (``clearance.untrusted.load_yaml``), checked against
a JSON Schema, then for meaning: duplicate ids, controls in unknown families, mappings and crosswalks
that name unknown controls, and mappings to requirement ids the policy they name does not have. Each
problem carries its file and line (``clearance.policyfile.PolicyError``). A library with any problem
is refused whole: nothing of it is used (``LibraryError`` lists every problem of every file).

Touches no table: the policy a mapping is checked against is passed in (lint reads the file on disk).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from django.conf import settings

from catalog.choices import RiskTier
from clearance.policyfile import LineMap, PolicyError, Problem, content_hash
from clearance.untrusted import UntrustedInputError, load_yaml
from compliance.choices import GPAI_VALUES, OperatorRole

MAX_FILE_BYTES = 1024 * 1024

_ID = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[A-Za-z0-9][A-Za-z0-9 ._-]*$"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 400}
_HEAD = {"apiVersion": {"const": "clearance/v1"}}

APPLIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "roles": {"type": "array", "minItems": 1, "items": {"enum": list(OperatorRole.values)}},
        "tiers": {"type": "array", "minItems": 1, "items": {"enum": list(RiskTier.values)}},
        "gpai": {"type": "array", "minItems": 1, "items": {"enum": list(GPAI_VALUES)}},
        "generative": {"type": "boolean"},
    },
}

FRAMEWORK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Clearance compliance framework",
    "type": "object",
    "required": ["apiVersion", "kind", "id", "name", "version", "source", "licence", "families", "controls"],
    "additionalProperties": False,
    "properties": {
        **_HEAD,
        "kind": {"const": "Framework"},
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 40},
        "name": _TEXT,
        "version": _TEXT,
        "source": {
            "type": "object", "required": ["title", "url", "note"], "additionalProperties": False,
            "properties": {"title": _TEXT, "url": {"type": "string", "pattern": "^https://"}, "note": _TEXT},
        },
        "licence": _TEXT,
        "families": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "required": ["id", "title"], "additionalProperties": False,
                "properties": {"id": _ID, "title": _TEXT, "function": _ID},
            },
        },
        "controls": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "required": ["id", "family", "title", "summary"], "additionalProperties": False,
                "properties": {
                    "id": _ID, "ref": _TEXT, "family": _ID, "title": _TEXT, "summary": _TEXT,
                    "applies": APPLIES_SCHEMA,
                    "condition_note": _TEXT,
                    "applies_from": {"type": "string", "format": "date",
                                     "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                    "date_source": _TEXT,
                },
                "dependentRequired": {"applies_from": ["date_source"]},
            },
        },
    },
}

_KEY = {"type": "string", "minLength": 3, "maxLength": 120, "pattern": "^[a-z0-9-]+/.+$"}

MAPPING_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Clearance framework mapping",
    "type": "object",
    "required": ["apiVersion", "kind", "policy", "mappings"],
    "additionalProperties": False,
    "properties": {
        **_HEAD,
        "kind": {"const": "FrameworkMapping"},
        "policy": {"type": "string", "minLength": 1},
        "mappings": {
            "type": "array",
            "items": {
                "type": "object", "required": ["control"], "additionalProperties": False,
                "anyOf": [{"required": ["requirements"]}, {"required": ["attestation"]}],
                "properties": {
                    "control": _KEY,
                    "requirements": {"type": "array", "minItems": 1,
                                     "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"}},
                    "attestation": {"type": "boolean"},
                },
            },
        },
    },
}

CROSSWALK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Clearance framework crosswalk",
    "type": "object",
    "required": ["apiVersion", "kind", "links"],
    "additionalProperties": False,
    "properties": {
        **_HEAD,
        "kind": {"const": "Crosswalk"},
        "links": {
            "type": "array",
            "items": {
                "type": "object", "required": ["controls"], "additionalProperties": False,
                "properties": {"controls": {"type": "array", "minItems": 2, "items": _KEY}, "note": _TEXT},
            },
        },
    },
}

SCHEMAS = {"Framework": FRAMEWORK_SCHEMA, "FrameworkMapping": MAPPING_SCHEMA, "Crosswalk": CROSSWALK_SCHEMA}


@dataclass(frozen=True)
class Applicability:
    """Who and what a control binds; None: no restriction on that axis."""

    roles: tuple[str, ...] | None = None
    tiers: tuple[str, ...] | None = None
    gpai: tuple[str, ...] | None = None
    generative: bool | None = None


@dataclass(frozen=True)
class Family:
    id: str
    title: str
    function: str = ""


@dataclass(frozen=True)
class Control:
    framework: str
    id: str
    family: str
    title: str
    summary: str
    ref: str = ""
    applies: Applicability = field(default_factory=Applicability)
    condition_note: str = ""
    applies_from: date | None = None
    date_source: str = ""
    key: str = field(init=False, default="")  # "<framework id>/<control id>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.framework}/{self.id}")


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    version: str
    source_title: str
    source_url: str
    source_note: str
    licence: str
    path: str
    digest: str
    families: tuple[Family, ...]
    controls: tuple[Control, ...]

    def family(self, family_id: str) -> Family:
        return next(f for f in self.families if f.id == family_id)


@dataclass(frozen=True)
class Mapping:
    control: str  # the control's key
    requirements: tuple[str, ...] = ()
    attestation: bool = False


@dataclass(frozen=True)
class Crosswalk:
    controls: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Library:
    frameworks: dict[str, Framework]
    # policy name -> control key -> mapping
    mappings: dict[str, dict[str, Mapping]]
    crosswalks: tuple[Crosswalk, ...]
    version: str  # SHA-256 over every file, in path order

    def control(self, key: str) -> Control | None:
        framework_id, _, control_id = key.partition("/")
        framework = self.frameworks.get(framework_id)
        if framework is None:
            return None
        return next((c for c in framework.controls if c.id == control_id), None)

    def mapping_for(self, policy_name: str, key: str) -> Mapping:
        """How a control is evidenced under a policy: its mapping entry, else attestation alone."""
        return self.mappings.get(policy_name, {}).get(key) or Mapping(key, (), True)

    def related(self, key: str) -> list[str]:
        """The controls a crosswalk links to this one, in file order, without repeats."""
        found: list[str] = []
        for link in self.crosswalks:
            if key in link.controls:
                found.extend(k for k in link.controls if k != key and k not in found)
        return found


class LibraryError(Exception):
    """The library does not load; ``errors`` holds each file's problems (with lines)."""

    def __init__(self, errors: list[PolicyError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))

    def lines(self) -> list[str]:
        return [line for error in self.errors for line in error.lines()]


# What the lint needs to know about a policy: name and requirement ids.
PolicyIds = dict[str, frozenset[str]]


def framework_dir() -> Path:
    return Path(getattr(settings, "FRAMEWORK_DIR", Path(__file__).resolve().parent / "frameworks"))


def import_dir() -> Path:
    """Where imported frameworks (OSCAL catalogs) are written: outside the source tree."""
    return Path(getattr(settings, "FRAMEWORK_IMPORT_DIR", Path(settings.BASE_DIR) / "var" / "frameworks"))


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.yaml") if p.is_file())


def _parse(path: Path, raw: bytes) -> tuple[dict[str, Any], LineMap]:
    """One file: bounded YAML, then the schema its ``kind`` names."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(path, f"not UTF-8 text: {exc}") from exc
    try:
        document = load_yaml(text, max_bytes=MAX_FILE_BYTES)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(path, problems=[Problem(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                                                  line)]) from exc
    except UntrustedInputError as exc:
        raise PolicyError(path, problems=[Problem(exc.message, exc.line)]) from exc
    if not isinstance(document, dict):
        raise PolicyError(path, problems=[Problem("the file must be a mapping with a `kind`", 1)])
    lines = LineMap(raw)
    kind = document.get("kind")
    schema = SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise PolicyError(path, problems=[Problem(
            f"unknown kind {kind!r}; known: {', '.join(sorted(SCHEMAS))}", lines.line(["kind"]))])
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        error = PolicyError(path, problems=[
            Problem(f"schema error at {'/'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}",
                    lines.line(list(e.absolute_path)))
            for e in errors
        ])
        if kind == "Framework" and isinstance(document.get("id"), str):
            error.framework_id = document["id"]  # type: ignore[attr-defined]
        raise error
    return document, lines


def _build_framework(path: Path, raw: bytes, doc: dict[str, Any], lines: LineMap) -> Framework:
    problems: list[Problem] = []
    families: list[Family] = []
    seen_families: dict[str, int] = {}
    for index, spec in enumerate(doc["families"]):
        if spec["id"] in seen_families:
            problems.append(Problem(f"duplicate family id {spec['id']!r} (first at line "
                                    f"{lines.line(['families', seen_families[spec['id']], 'id'])})",
                                    lines.line(["families", index, "id"])))
        seen_families.setdefault(spec["id"], index)
        families.append(Family(spec["id"], spec["title"], spec.get("function", "")))
    controls: list[Control] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(doc["controls"]):
        here: list[str | int] = ["controls", index]
        if spec["id"] in seen:
            problems.append(Problem(f"duplicate control id {spec['id']!r} (first at line "
                                    f"{lines.line(['controls', seen[spec['id']], 'id'])})",
                                    lines.line([*here, "id"])))
        seen.setdefault(spec["id"], index)
        if spec["family"] not in seen_families:
            problems.append(Problem(f"control {spec['id']}: unknown family {spec['family']!r}",
                                    lines.line([*here, "family"])))
        applies_from = None
        if "applies_from" in spec:
            try:
                applies_from = date.fromisoformat(spec["applies_from"])
            except ValueError:
                problems.append(Problem(f"control {spec['id']}: applies_from {spec['applies_from']!r} is not a date",
                                        lines.line([*here, "applies_from"])))
        applies = spec.get("applies", {})
        controls.append(Control(
            framework=doc["id"], id=spec["id"], family=spec["family"], title=spec["title"],
            summary=spec["summary"], ref=spec.get("ref", ""),
            applies=Applicability(
                roles=tuple(applies["roles"]) if "roles" in applies else None,
                tiers=tuple(applies["tiers"]) if "tiers" in applies else None,
                gpai=tuple(applies["gpai"]) if "gpai" in applies else None,
                generative=applies.get("generative"),
            ),
            condition_note=spec.get("condition_note", ""),
            applies_from=applies_from, date_source=spec.get("date_source", ""),
        ))
    if problems:
        raise PolicyError(path, problems=problems)
    source = doc["source"]
    return Framework(doc["id"], doc["name"], doc["version"], source["title"], source["url"], source["note"],
                     doc["licence"], str(path), content_hash(raw), tuple(families), tuple(controls))


def build_library(files: Iterable[tuple[Path, bytes]], policies: PolicyIds | None = None) -> Library:
    """Parse and cross-check a set of files. ``policies`` (name -> requirement ids), when given, is
    what mappings are checked against: a mapping for a policy not in it, or to a requirement id the
    policy does not have, is an error. Raises LibraryError listing every problem."""
    errors: list[PolicyError] = []
    frameworks: dict[str, Framework] = {}
    framework_paths: dict[str, str] = {}
    later: list[tuple[Path, dict[str, Any], LineMap]] = []
    digests: list[str] = []
    broken: set[str] = set()  # framework ids whose file has problems: references to them are not judged
    for path, raw in files:
        digests.append(content_hash(raw))
        try:
            doc, lines = _parse(path, raw)
            if doc["kind"] == "Framework":
                if doc["id"] in framework_paths:
                    raise PolicyError(path, problems=[Problem(
                        f"framework id {doc['id']!r} is already defined in {framework_paths[doc['id']]}",
                        lines.line(["id"]))])
                framework_paths[doc["id"]] = str(path)
                try:
                    frameworks[doc["id"]] = _build_framework(path, raw, doc, lines)
                except PolicyError:
                    broken.add(doc["id"])
                    raise
            else:
                later.append((path, doc, lines))
        except PolicyError as exc:
            errors.append(exc)
            if isinstance(getattr(exc, "framework_id", None), str):
                broken.add(getattr(exc, "framework_id"))  # noqa: B009
    known = {c.key for f in frameworks.values() for c in f.controls}
    mappings: dict[str, dict[str, Mapping]] = {}
    crosswalks: list[Crosswalk] = []
    for path, doc, lines in later:
        problems: list[Problem] = []

        def unknown_control(key: str, where: list[str | int], problems: list[Problem] = problems,
                            lines: LineMap = lines) -> None:
            if key.partition("/")[0] in broken:
                return
            problems.append(Problem(f"unknown control {key!r} (no framework file defines it)", lines.line(where)))

        if doc["kind"] == "FrameworkMapping":
            policy = doc["policy"]
            requirement_ids = None
            if policies is not None:
                requirement_ids = policies.get(policy)
                if requirement_ids is None:
                    problems.append(Problem(f"maps to policy {policy!r}, which is not a known readiness policy "
                                            f"(known: {', '.join(sorted(policies)) or 'none'})", lines.line(["policy"])))
            # Several files may map for one policy (an organisation's own framework brings its own).
            entries = mappings.setdefault(policy, {})
            for index, spec in enumerate(doc["mappings"]):
                here: list[str | int] = ["mappings", index]
                key = spec["control"]
                if key not in known:
                    unknown_control(key, [*here, "control"])
                if key in entries:
                    problems.append(Problem(f"control {key!r} is mapped twice for policy {policy}",
                                            lines.line([*here, "control"])))
                reqs = tuple(spec.get("requirements", ()))
                for r_index, req in enumerate(reqs):
                    if requirement_ids is not None and req not in requirement_ids:
                        problems.append(Problem(f"control {key}: unknown requirement {req!r} in policy {policy}",
                                                lines.line([*here, "requirements", r_index])))
                if not reqs and not spec.get("attestation", False):
                    problems.append(Problem(f"control {key}: neither requirements nor attestation evidence it",
                                            lines.line(here)))
                entries[key] = Mapping(key, reqs, bool(spec.get("attestation", False)))
        else:
            for index, spec in enumerate(doc["links"]):
                for c_index, key in enumerate(spec["controls"]):
                    if key not in known:
                        unknown_control(key, ["links", index, "controls", c_index])
                if len({k.partition("/")[0] for k in spec["controls"]}) < 2:
                    problems.append(Problem("a crosswalk links controls of at least two frameworks",
                                            lines.line(["links", index])))
                crosswalks.append(Crosswalk(tuple(spec["controls"]), spec.get("note", "")))
        if problems:
            errors.append(PolicyError(path, problems=problems))
    if errors:
        raise LibraryError(errors)
    return Library(frameworks, mappings, tuple(crosswalks), content_hash("".join(digests).encode()))


def read_files(directory: Path | None = None) -> list[tuple[Path, bytes]]:
    """The files of ``directory``; by default the shipped library and then the imported frameworks."""
    if directory is not None:
        return [(p, p.read_bytes()) for p in _files(directory)]
    imported = import_dir()
    found = _files(framework_dir()) + (_files(imported) if imported.is_dir() else [])
    return [(p, p.read_bytes()) for p in found]


_lock = threading.Lock()
_cache: dict[str, Library] = {}


def load_library(directory: Path | None = None,
                 policies: Callable[[], PolicyIds] | None = None) -> Library:
    """The library in ``directory`` (default FRAMEWORK_DIR), cached by the files' content. Mappings are
    checked against ``policies()`` when given (lint does; pages check each requirement id against the
    active policy as they judge it, failing closed)."""
    files = read_files(directory)
    stamp = content_hash(b"".join(content_hash(raw).encode() + str(p).encode() for p, raw in files))
    if policies is None:
        with _lock:
            cached = _cache.get(stamp)
        if cached is not None:
            return cached
    library = build_library(files, policies() if policies is not None else None)
    if policies is None:
        with _lock:
            if len(_cache) > 8:
                _cache.clear()
            _cache[stamp] = library
    return library
