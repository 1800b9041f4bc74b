"""Review kinds, who decides them and their SLA per risk tier, from policies/reviews.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.choices import RiskTier
from clearance import conditions
from clearance.policyfile import CachedLoader, PolicyError, content_hash, parse_and_validate
from clearance.roles import Role

SUGGEST_FACTS = ("data_categories", "risk_tier", "customer_facing", "annex_iii_area", "human_in_the_loop",
                 "interacts_with_people", "generates_synthetic_content", "prohibited_practices")

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "name", "kinds"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "clearance/v1"},
        "kind": {"const": "ReviewPolicy"},
        "name": {"type": "string", "minLength": 1},
        "expiry_warning_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "kinds": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "label", "role", "sla_days"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,19}$"},
                    "label": {"type": "string", "minLength": 1},
                    "role": {"enum": [r.value for r in Role]},
                    "sla_days": {
                        "type": "object",
                        "required": ["default"],
                        "additionalProperties": False,
                        "properties": {
                            name: {"type": "integer", "minimum": 1, "maximum": 365}
                            for name in ["default", *RiskTier.values]
                        },
                    },
                    "suggest_when": {"$ref": "#/$defs/condition"},
                },
            },
        },
    },
    "$defs": {"condition": conditions.CONDITION_SCHEMA},
}


@dataclass(frozen=True)
class KindConfig:
    id: str
    label: str
    role: Role
    sla_days: dict[str, int]
    suggest_when: dict[str, Any] | None

    def sla(self, tier: str | None) -> timedelta:
        return timedelta(days=self.sla_days.get(tier or "", self.sla_days["default"]))


@dataclass(frozen=True)
class ReviewPolicy:
    name: str
    version: str
    kinds: dict[str, KindConfig]
    expiry_warning_days: int


def _build(path: Path, raw: bytes) -> ReviewPolicy:
    doc = parse_and_validate(path, raw, SCHEMA)
    kinds: dict[str, KindConfig] = {}
    for item in doc["kinds"]:
        if item["id"] in kinds:
            raise PolicyError(path, f"review kind {item['id']} is listed twice")
        when = item.get("suggest_when")
        if when is not None:
            unknown = conditions.referenced_facts(when) - set(SUGGEST_FACTS)
            if unknown:
                raise PolicyError(path, f"kind {item['id']} reads unknown fact(s): {', '.join(sorted(unknown))}")
        kinds[item["id"]] = KindConfig(item["id"], item["label"], Role(item["role"]), dict(item["sla_days"]), when)
    return ReviewPolicy(doc["name"], content_hash(raw), kinds, doc.get("expiry_warning_days", 30))


_loader: CachedLoader[ReviewPolicy] = CachedLoader(_build)


def load_review_policy(path: Path | None = None) -> ReviewPolicy:
    return _loader.load(path or Path(settings.POLICY_DIR) / settings.REVIEW_POLICY_FILE)


def review_kinds() -> dict[str, KindConfig]:
    return load_review_policy().kinds


def kind_label(kind: str) -> str:
    config = review_kinds().get(kind)
    return config.label if config else kind.replace("_", " ").capitalize()


def kind_role(kind: str) -> Role | None:
    config = review_kinds().get(kind)
    return config.role if config else None


def kinds_for_roles(roles: frozenset[str]) -> list[str]:
    """The queues a user with these role names works."""
    return [k for k, c in review_kinds().items() if c.role.value in roles]


def review_sla(kind: str, tier: str | None) -> timedelta:
    config = review_kinds().get(kind)
    return config.sla(tier) if config else timedelta(days=5)


def suggested_kinds(request: Any) -> set[str]:
    facts = {name: getattr(request, name, None) for name in SUGGEST_FACTS}
    facts["risk_tier"] = getattr(request, "risk_tier", "") or getattr(request, "suggested_tier", "")
    return {k for k, c in review_kinds().items() if c.suggest_when is None or conditions.evaluate(c.suggest_when, facts)}
