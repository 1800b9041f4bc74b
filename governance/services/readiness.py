"""Recomputing and storing readiness verdicts per system and environment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from clearance.audit import audit_record
from governance.choices import (
    PASSING_STATUSES,
)
from governance.models import ReadinessVerdict
from governance.policy.engine import evaluate
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import collect_facts


def readiness_recompute(*, system_id: int, reason: str = "") -> dict[str, str]:
    """Evaluate every environment and store the snapshot; audit each verdict that changed."""
    now = timezone.now()
    try:
        policy = load_readiness_policy()
    except Exception:
        # Fail closed: stored snapshots are dropped so nothing shows an out-of-date pass.
        ReadinessVerdict.objects.filter(system_id=system_id).delete()
        raise
    changed: dict[str, str] = {}
    with transaction.atomic():
        system = AISystem.objects.select_for_update(of=("self",)).select_related(
            "business_owner", "technical_owner", "risk_owner"
        ).get(pk=system_id)
        facts = collect_facts(system)
        previous = {v.environment: v for v in ReadinessVerdict.objects.filter(system=system)}
        for env in policy.environments:
            result = evaluate(policy, env, facts, now)
            old = previous.pop(env, None)
            ReadinessVerdict.objects.update_or_create(
                system=system,
                environment=env,
                defaults={
                    "verdict": result.verdict,
                    "policy_name": policy.name,
                    "policy_version": policy.version,
                    "requirements": with_since([r.as_json() for r in result.requirements],
                                               old.requirements if old else [], now),
                    "computed_at": now,
                    "valid_until": result.valid_until,
                },
            )
            if old is None or old.verdict != result.verdict:
                changed[env] = result.verdict
                audit_record(
                    actor=None,
                    action="readiness.changed",
                    obj=system,
                    data={"environment": env, "from": old.verdict if old else None, "to": result.verdict,
                          "reason": reason, "policy_version": policy.version,
                          "unmet": [r.id for r in result.unmet]},
                )
        ReadinessVerdict.objects.filter(system=system, environment__in=list(previous)).delete()
    return changed


def with_since(requirements: list[dict[str, Any]], previous: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Stamp each unmet requirement with since when it has been unmet: what the facts say, else
    carried from the previous snapshot while the status is unchanged, else now."""
    before = {r.get("id"): r for r in previous}
    for req in requirements:
        if req["status"] in PASSING_STATUSES:
            req["since"] = None
            continue
        old = before.get(req["id"])
        if not req.get("since"):
            carried = old.get("since") if old and old.get("status") == req["status"] else None
            req["since"] = carried or now.isoformat()
    return requirements


def readiness_due_for_recompute(now: datetime | None = None) -> list[int]:
    """Systems whose stored verdict depended on an approval or evidence that has since aged out."""
    now = now or timezone.now()
    return list(
        ReadinessVerdict.objects.filter(valid_until__lte=now).values_list("system_id", flat=True).distinct()
    )
