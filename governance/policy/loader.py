"""Reading a readiness policy file into a validated Policy object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from django.conf import settings

from catalog.choices import RiskTier
from clearance import conditions
from clearance.policyfile import CachedLoader, PolicyError, content_hash, parse_and_validate
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
                },
            },
        },
        "requirements": {
            "type": "array",
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


@dataclass(frozen=True)
class Environment:
    name: str
    inherits: str | None
    exclude: tuple[str, ...]


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
    doc = parse_and_validate(path, raw, SCHEMA)
    envs = {
        name: Environment(name, spec.get("inherits"), tuple(spec.get("exclude", [])))
        for name, spec in doc["environments"].items()
    }
    for env in envs.values():
        if env.inherits is not None and env.inherits not in envs:
            raise PolicyError(path, f"environment {env.name} inherits unknown environment {env.inherits}")
        seen, current = {env.name}, env.inherits
        while current is not None:
            if current in seen:
                raise PolicyError(path, f"environment {env.name} has an inheritance cycle")
            seen.add(current)
            current = envs[current].inherits
    ids: set[str] = set()
    requirements = []
    for index, spec in enumerate(doc["requirements"]):
        where = f"requirements/{index} ({spec['id']})"
        if spec["id"] in ids:
            raise PolicyError(path, f"{where}: duplicate requirement id")
        ids.add(spec["id"])
        check_type = REGISTRY.get(spec["check"])
        if check_type is None:
            raise PolicyError(path, f"{where}: unknown check type {spec['check']!r}; known: {', '.join(sorted(REGISTRY))}")
        params = spec.get("params", {})
        try:
            jsonschema.validate(params, check_type.params_schema)
        except jsonschema.ValidationError as exc:
            raise PolicyError(path, f"{where}: bad params for {spec['check']}: {exc.message}") from exc
        unknown_envs = set(spec["environments"]) - set(envs)
        if unknown_envs:
            raise PolicyError(path, f"{where}: unknown environment(s) {', '.join(sorted(unknown_envs))}")
        if "when" in spec:
            unknown_facts = conditions.referenced_facts(spec["when"]) - set(CONDITION_FACT_NAMES)
            if unknown_facts:
                raise PolicyError(path, f"{where}: condition reads unknown fact(s) {', '.join(sorted(unknown_facts))}")
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
            )
        )
    for env in envs.values():
        stray = set(env.exclude) - ids
        if stray:
            raise PolicyError(path, f"environment {env.name} excludes unknown requirement(s) {', '.join(sorted(stray))}")
    return Policy(doc["name"], content_hash(raw), str(path), envs, tuple(requirements))


_loader: CachedLoader[Policy] = CachedLoader(build_policy)


def readiness_policy_path() -> Path:
    return Path(settings.POLICY_DIR) / settings.READINESS_POLICY_FILE


def load_readiness_policy(path: Path | None = None) -> Policy:
    """The active policy; raises PolicyError (callers fail closed)."""
    return _loader.load(path or readiness_policy_path())
