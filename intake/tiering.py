"""Risk tiering from the questionnaire, by the rules in the tiering policy file (not code paths)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.choices import RiskTier
from clearance import conditions
from clearance.policyfile import CachedLoader, PolicyError, content_hash, parse_and_validate

TIER_ORDER = [RiskTier.MINIMAL, RiskTier.LIMITED, RiskTier.HIGH, RiskTier.PROHIBITED]

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "name", "rules"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "clearance/v1"},
        "kind": {"const": "TieringPolicy"},
        "name": {"type": "string", "minLength": 1},
        "default_tier": {"enum": [t.value for t in TIER_ORDER]},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "tier", "reason", "when"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                    "tier": {"enum": [t.value for t in TIER_ORDER]},
                    "reason": {"type": "string", "minLength": 1},
                    "when": {"$ref": "#/$defs/condition"},
                },
            },
        },
    },
    "$defs": {"condition": conditions.CONDITION_SCHEMA},
}

QUESTIONNAIRE_FACTS = (
    "prohibited_practices",
    "annex_iii_area",
    "data_categories",
    "interacts_with_people",
    "generates_synthetic_content",
    "customer_facing",
    "human_in_the_loop",
)


@dataclass(frozen=True)
class TieringPolicy:
    name: str
    version: str
    default_tier: str
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class TierSuggestion:
    tier: str
    reasons: list[dict[str, str]]
    policy_version: str


def _build(path: Path, raw: bytes) -> TieringPolicy:
    doc = parse_and_validate(path, raw, SCHEMA)
    known = set(QUESTIONNAIRE_FACTS)
    for rule in doc["rules"]:
        unknown = conditions.referenced_facts(rule["when"]) - known
        if unknown:
            raise PolicyError(path, f"rule {rule['id']} reads unknown fact(s): {', '.join(sorted(unknown))}")
    return TieringPolicy(doc["name"], content_hash(raw), doc.get("default_tier", "minimal"), doc["rules"])


_loader: CachedLoader[TieringPolicy] = CachedLoader(_build)


def load_tiering_policy(path: Path | None = None) -> TieringPolicy:
    return _loader.load(path or Path(settings.POLICY_DIR) / settings.TIERING_POLICY_FILE)


def questionnaire_facts(answers: Any) -> dict[str, Any]:
    return {name: getattr(answers, name) for name in QUESTIONNAIRE_FACTS}


def suggest_tier(facts: dict[str, Any], policy: TieringPolicy | None = None) -> TierSuggestion:
    """Pure: the highest tier among the matching rules, with every matching rule as a reason."""
    policy = policy or load_tiering_policy()
    tier = policy.default_tier
    reasons = []
    for rule in policy.rules:
        if conditions.evaluate(rule["when"], facts):
            reasons.append({"rule": rule["id"], "tier": rule["tier"], "reason": rule["reason"]})
            if TIER_ORDER.index(RiskTier(rule["tier"])) > TIER_ORDER.index(RiskTier(tier)):
                tier = rule["tier"]
    if not reasons:
        reasons.append({"rule": "default", "tier": tier, "reason": "No tiering rule matched the answers"})
    return TierSuggestion(tier=tier, reasons=reasons, policy_version=policy.version)
