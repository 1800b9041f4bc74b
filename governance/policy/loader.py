"""Reading a readiness policy file into a validated Policy object."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from django.conf import settings

from catalog.choices import RiskTier
from clearance import conditions
from clearance.policyfile import CachedLoader, LineMap, PolicyError, Problem, content_hash, parse_and_validate
from governance.policy.checks import REGISTRY
from governance.policy.facts import CONDITION_FACT_NAMES

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://clearance.local/schemas/readiness-policy.json",
    "title": "Clearance readiness policy",
    "type": "object",
    "required": ["apiVersion", "kind", "name", "environments", "requirements"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "clearance/v1"},
        "kind": {"const": "ReadinessPolicy"},
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "environments": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-z][a-z0-9-]*$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string"},
                    "inherits": {"type": "string"},
                    "exclude": {"type": "array", "items": {"type": "string"}},
                    # A deploy to an environment where no requirement applies blocks, unless the
                    # environment says here that it needs nothing.
                    "allow_empty": {"type": "boolean"},
                },
            },
        },
        "requirements": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "title", "check", "environments", "fix"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                    "title": {"type": "string", "minLength": 1},
                    "check": {"type": "string"},
                    "params": {"type": "object"},
                    "environments": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "tiers": {"type": "array", "items": {"enum": list(RiskTier.values)}, "minItems": 1},
                    "when": {"$ref": "#/$defs/condition"},
                    "severity": {"enum": ["critical", "major", "minor"]},
                    "fix": {"type": "string", "minLength": 1},
                    # false: no waiver can set this requirement aside (e.g. a retired system).
                    "waivable": {"type": "boolean"},
                },
            },
        },
    },
    "$defs": {"condition": conditions.CONDITION_SCHEMA},
}


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    check: str
    params: dict[str, Any]
    environments: tuple[str, ...]
    tiers: tuple[str, ...]
    when: dict[str, Any] | None
    severity: str
    fix: str
    waivable: bool = True


@dataclass(frozen=True)
class Environment:
    name: str
    inherits: str | None
    exclude: tuple[str, ...]
    allow_empty: bool = False


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    path: str
    environments: dict[str, Environment]
    requirements: tuple[Requirement, ...]

    def lineage(self, environment: str) -> list[str]:
        """The environment and those it inherits from, nearest first."""
        chain = []
        current: str | None = environment
        while current is not None:
            chain.append(current)
            current = self.environments[current].inherits
        return chain

    def requirements_for(self, environment: str) -> list[Requirement]:
        excluded: set[str] = set()
        chain = self.lineage(environment)
        for name in chain:
            excluded |= set(self.environments[name].exclude)
        return [
            req for req in self.requirements
            if req.id not in excluded and any(env in req.environments for env in chain)
        ]


def build_policy(path: Path, raw: bytes) -> Policy:
    """Parse, validate and check the meaning of a policy; every problem is reported with its line."""
    doc = parse_and_validate(path, raw, SCHEMA)
    lines = LineMap(raw)
    problems: list[Problem] = []

    def problem(where: list[str | int], message: str) -> None:
        problems.append(Problem(message, lines.line(where)))

    envs = {
        name: Environment(name, spec.get("inherits"), tuple(spec.get("exclude", [])), spec.get("allow_empty", False))
        for name, spec in doc["environments"].items()
    }
    for env in envs.values():
        if env.inherits is not None and env.inherits not in envs:
            problem(["environments", env.name, "inherits"],
                    f"environment {env.name} inherits unknown environment {env.inherits}")
            continue
        chain, current = [env.name], env.inherits
        while current is not None and current in envs:
            if current in chain:
                problem(["environments", env.name, "inherits"],
                        f"environment {env.name} has an inheritance cycle: {' -> '.join([*chain, current])}")
                break
            chain.append(current)
            current = envs[current].inherits
    ids: dict[str, int] = {}
    requirements = []
    for index, spec in enumerate(doc["requirements"]):
        here: list[str | int] = ["requirements", index]
        where = f"requirement {spec['id']}"
        if spec["id"] in ids:
            problem([*here, "id"], f"{where}: duplicate requirement id (first defined at line "
                                   f"{lines.line(['requirements', ids[spec['id']], 'id'])})")
        ids.setdefault(spec["id"], index)
        check_type = REGISTRY.get(spec["check"])
        params = spec.get("params", {})
        if check_type is None:
            problem([*here, "check"],
                    f"{where}: unknown check type {spec['check']!r}; known: {', '.join(sorted(REGISTRY))}")
        else:
            validator = jsonschema.Draft202012Validator(check_type.params_schema)
            for error in sorted(validator.iter_errors(params), key=lambda e: [str(p) for p in e.absolute_path]):
                sub = list(error.absolute_path)
                name = "/".join(str(p) for p in sub) or "params"
                problem([*here, "params", *sub],
                        f"{where}: bad parameter {name} for check {spec['check']}: {error.message}")
        unknown_envs = set(spec["environments"]) - set(envs)
        if unknown_envs:
            problem([*here, "environments"], f"{where}: unknown environment(s) {', '.join(sorted(unknown_envs))}")
        if "when" in spec:
            unknown_facts = conditions.referenced_facts(spec["when"]) - set(CONDITION_FACT_NAMES)
            if unknown_facts:
                problem([*here, "when"], f"{where}: condition reads unknown fact(s) {', '.join(sorted(unknown_facts))}; "
                                         f"known: {', '.join(CONDITION_FACT_NAMES)}")
        requirements.append(
            Requirement(
                id=spec["id"],
                title=spec["title"],
                check=spec["check"],
                params=params,
                environments=tuple(spec["environments"]),
                tiers=tuple(spec.get("tiers", RiskTier.values)),
                when=spec.get("when"),
                severity=spec.get("severity", "major"),
                fix=spec["fix"],
                waivable=spec.get("waivable", True),
            )
        )
    for env in envs.values():
        stray = set(env.exclude) - set(ids)
        if stray:
            problem(["environments", env.name, "exclude"],
                    f"environment {env.name} excludes unknown requirement(s) {', '.join(sorted(stray))}")
    built = Policy(doc["name"], content_hash(raw), str(path), envs, tuple(requirements))
    if not problems:
        for env in envs.values():
            if not env.allow_empty and not built.requirements_for(env.name):
                problem(["environments", env.name],
                        f"environment {env.name} has no requirement, so every gate there would block; add one, "
                        f"or set allow_empty: true if deploying to {env.name} needs nothing")
    if problems:
        raise PolicyError(path, problems=sorted(problems, key=lambda p: p.line or 0))
    return built


def published_schema() -> dict[str, Any]:
    """The JSON Schema editors validate against: the file schema plus each check's parameters."""
    schema = copy.deepcopy(SCHEMA)
    item = schema["properties"]["requirements"]["items"]
    item["properties"]["check"] = {"enum": sorted(REGISTRY)}
    item["allOf"] = [
        {
            "if": {"properties": {"check": {"const": name}}, "required": ["check"]},
            "then": {"properties": {"params": REGISTRY[name].params_schema}},
        }
        for name in sorted(REGISTRY)
    ]
    return schema


SCHEMA_FILE = "schema/readiness.schema.json"


_loader: CachedLoader[Policy] = CachedLoader(build_policy)


def readiness_policy_path() -> Path:
    return Path(settings.POLICY_DIR) / settings.READINESS_POLICY_FILE


def load_readiness_policy(path: Path | None = None) -> Policy:
    """The active policy: the version recorded as active in the database, the same in every process
    and on every host (``governance.selectors.policy``). Raises PolicyError when none can be
    determined (callers fail closed). With ``path``, that file as it is on disk (lint, tests, diff)."""
    if path is not None:
        return _loader.load(path)
    from governance.selectors.policy import active_policy  # the database edge of this package

    return active_policy()


def load_policy_file(path: Path | None = None) -> Policy:
    """The policy file on this host (``POLICY_DIR``), parsed; it decides nothing until activated.
    While a changed file does not load this is its last good version (raises if there is none)."""
    return _loader.load(path or readiness_policy_path())


def readiness_policy_problem(path: Path | None = None) -> PolicyError | None:
    """Why the policy file on disk does not load right now, or None."""
    return _loader.problem(path or readiness_policy_path())


def readiness_policy_file_version(path: Path | None = None) -> str | None:
    """The SHA-256 of the policy file on disk when it loads, else None."""
    try:
        entry = _loader.load(path or readiness_policy_path())
    except PolicyError:
        return None
    return None if _loader.problem(path or readiness_policy_path()) else entry.version
