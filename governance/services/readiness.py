"""Recomputing and storing readiness verdicts per system and environment."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.choices import LifecycleStage
from catalog.models import AISystem
from clearance.audit import audit_record
from clearance.outbox import outbox_complete
from governance.choices import (
    PASSING_STATUSES,
)
from governance.models import ReadinessVerdict
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import collect_facts, with_fact_columns

log = logging.getLogger(__name__)


def readiness_recompute(*, system_id: int, reason: str = "", outbox_id: int | None = None) -> dict[str, str]:
    """Evaluate every environment and store the snapshot; audit each verdict that changed. The
    outbox message that asked for it is completed in the same transaction as the stored verdicts."""
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
        outbox_complete(message_id=outbox_id)
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


def _disagreements(stored: dict[str, ReadinessVerdict], live: dict[str, Evaluation], policy_version: str) -> list[str]:
    """What differs between the stored verdicts of one system and a live evaluation, readably."""
    found = []
    for env, result in live.items():
        row = stored.get(env)
        if row is None:
            found.append(f"{env}: no stored verdict (live: {result.verdict})")
            continue
        if row.policy_version != policy_version:
            found.append(f"{env}: stored under policy {row.policy_version[:12]}, active is {policy_version[:12]}")
        if row.verdict != result.verdict:
            found.append(f"{env}: stored {row.verdict}, live {result.verdict}")
        before = {r.get("id"): r.get("status") for r in row.requirements}
        after = {r.id: r.status for r in result.requirements}
        found += [f"{env}: {rid} stored {before.get(rid) or 'absent'}, live {after.get(rid) or 'absent'}"
                  for rid in sorted(set(before) | set(after), key=str) if before.get(rid) != after.get(rid)]
    found += [f"{env}: stored verdict for an environment the policy does not have" for env in stored if env not in live]
    return found


def readiness_consistency_sweep(*, now: datetime | None = None, chunk: int = 200) -> dict[str, int]:
    """Compare every stored verdict with a live evaluation of the same facts and recompute each
    system whose stored verdicts disagree. The outbox makes a recompute follow every change of a
    fact; this catches what no service announced (a user deactivated in the admin, a policy file
    changed, a change made by hand). Logs each fix and returns the counts."""
    policy = load_readiness_policy()  # a policy that does not load: raise, the task fails loudly
    now = now or timezone.now()
    counts = {"checked": 0, "fixed": 0, "failed": 0}
    # Every system with a stored verdict, and every live one (a missing verdict is a disagreement).
    ids = sorted(set(ReadinessVerdict.objects.values_list("system_id", flat=True))
                 | set(AISystem.objects.exclude(lifecycle_stage=LifecycleStage.RETIRED).values_list("pk", flat=True)))
    for start in range(0, len(ids), chunk):
        batch = ids[start:start + chunk]
        systems = with_fact_columns(
            AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").filter(pk__in=batch)
        ).order_by("pk")
        stored_by_system: dict[int, dict[str, ReadinessVerdict]] = {}
        for row in ReadinessVerdict.objects.filter(system_id__in=batch):
            stored_by_system.setdefault(row.system_id, {})[row.environment] = row
        for system in systems:
            counts["checked"] += 1
            try:
                facts = collect_facts(system)
                live = {env: evaluate(policy, env, facts, now) for env in policy.environments}
                found = _disagreements(stored_by_system.get(system.pk, {}), live, policy.version)
                if not found:
                    continue
                log.warning("readiness consistency: %s disagreed with a live evaluation (%s); recomputing",
                            system.slug, "; ".join(found[:10]))
                readiness_recompute(system_id=system.pk,
                                    reason="consistency sweep: the stored verdict disagreed with a live evaluation")
                counts["fixed"] += 1
            except Exception:
                counts["failed"] += 1
                log.exception("readiness consistency: could not check %s", system.slug)
    log.info("readiness consistency: %(checked)d system(s) checked, %(fixed)d fixed, %(failed)d failed", counts)
    return counts
