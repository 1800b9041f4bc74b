"""Recomputing and storing readiness verdicts per system and environment."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalog.choices import LifecycleStage
from catalog.models import AISystem
from clearance.audit import audit_record
from clearance.outages import is_outage
from clearance.outbox import outbox_complete
from governance.choices import PASSING_STATUSES, RequirementStatus, Verdict
from governance.models import UNTRUSTED_FACTS, FactsVersion, ReadinessVerdict
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import Policy, load_readiness_policy
from governance.selectors.facts import collect_facts, with_fact_columns
from integrations.choices import EventKind
from integrations.events import emit

log = logging.getLogger(__name__)


def facts_changed(*, system_id: int) -> None:
    """Bump the system's facts version in the current transaction: from its commit on, no stored
    verdict of the system is current (the gate computes live until the recompute stores a new one).
    Called by ``catalog.services.systems.readiness_changed``, which every fact-changing service calls."""
    if FactsVersion.objects.filter(system_id=system_id).update(version=F("version") + 1):
        return
    try:
        with transaction.atomic():  # a savepoint: a concurrent first bump may win the insert
            FactsVersion.objects.create(system_id=system_id, version=1)
    except IntegrityError:
        FactsVersion.objects.filter(system_id=system_id).update(version=F("version") + 1)


def facts_version_of(system_id: int) -> int:
    return FactsVersion.objects.filter(system_id=system_id).values_list("version", flat=True).first() or 0


def owners_key(system: AISystem) -> str:
    """The owners as the facts read them (who, under which name, active or not). Read it from a
    system with its owners joined, or each owner costs a query."""
    return owners_key_of([None if user is None else (user.pk, user.is_active, user.get_username())
                          for user in (system.business_owner, system.technical_owner, system.risk_owner)])


def owners_key_of(owners: list[tuple[int, bool, str] | None]) -> str:
    """``owners_key`` from (id, active, username) of the business, technical and risk owner."""
    return "|".join("-" if owner is None else f"{owner[0]}:{int(bool(owner[1]))}:{owner[2]}" for owner in owners)


# The requirement every stored verdict of a system shows while its recompute has failed.
RECOMPUTE_FAILED = "readiness-computed"


def readiness_recompute(*, system_id: int, reason: str = "", outbox_id: int | None = None) -> dict[str, str]:
    """Evaluate every environment and store the snapshot; audit each verdict that changed. The
    outbox message that asked for it is completed in the same transaction as the stored verdicts.

    Fails closed: when it raises, the system's stored verdicts become a block naming the failure
    and are marked untrusted (the gate never serves them), and the exception propagates so the
    task is retried."""
    return {env: result.verdict for env, (result, changed) in
            readiness_recompute_all(system_id=system_id, reason=reason, outbox_id=outbox_id).items() if changed}


def readiness_recompute_all(*, system_id: int, reason: str = "", outbox_id: int | None = None,
                            ) -> dict[str, tuple[Evaluation, bool]]:
    """``readiness_recompute``, answering each environment's evaluation and whether it changed."""
    now = timezone.now()
    try:
        policy = load_readiness_policy()
    except Exception:
        # Fail closed: stored snapshots are dropped so nothing shows an out-of-date pass.
        ReadinessVerdict.objects.filter(system_id=system_id).delete()
        raise
    try:
        return _recompute(system_id, policy, reason, outbox_id, now)
    except Exception as exc:
        if not is_outage(exc):
            _mark_failed(system_id, exc, now)
        raise


def _recompute(system_id: int, policy: Policy, reason: str, outbox_id: int | None, now: datetime,
               ) -> dict[str, tuple[Evaluation, bool]]:
    results: dict[str, tuple[Evaluation, bool]] = {}
    with transaction.atomic():
        system = AISystem.objects.select_for_update(of=("self",)).select_related(
            "business_owner", "technical_owner", "risk_owner"
        ).get(pk=system_id)
        # Before the facts: a change that commits while they are read then leaves this verdict one
        # version behind (recomputed again, never served), never one ahead.
        version = facts_version_of(system_id)
        facts = collect_facts(system)
        owners = owners_key(system)
        previous = {v.environment: v for v in ReadinessVerdict.objects.filter(system=system)}
        went_stale: list[dict[str, str]] = []
        for env in policy.environments:
            result = evaluate(policy, env, facts, now)
            old = previous.pop(env, None)
            was_stale = {r.get("id") for r in (old.requirements if old else []) if r.get("status") == RequirementStatus.STALE}
            went_stale += [{"environment": env, "requirement": r.id, "message": r.message}
                           for r in result.requirements if r.status == RequirementStatus.STALE and r.id not in was_stale]
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
                    "facts_version": version,
                    "owners_key": owners,
                },
            )
            changed = old is None or old.verdict != result.verdict
            results[env] = (result, changed)
            if changed:
                audit_record(
                    actor=None,
                    action="readiness.changed",
                    obj=system,
                    data={"environment": env, "from": old.verdict if old else None, "to": result.verdict,
                          "reason": reason, "policy_version": policy.version,
                          "unmet": [r.id for r in result.unmet]},
                )
        ReadinessVerdict.objects.filter(system=system, environment__in=list(previous)).delete()
        if went_stale:
            _report_stale(system, went_stale)
        outbox_complete(message_id=outbox_id)
    return results


def _report_stale(system: AISystem, went_stale: list[dict[str, str]]) -> None:
    """One event per recompute that found requirements newly stale (evidence or an approval aged
    out), listing them; a requirement that stays stale is not reported again."""
    requirements = sorted({row["requirement"] for row in went_stale})
    environments = sorted({row["environment"] for row in went_stale})
    messages = list(dict.fromkeys(row["message"] for row in went_stale))
    emit(kind=EventKind.EVIDENCE_STALE, subject=system, actor=None,
         summary=f"Evidence of {system.slug} went stale: " + "; ".join(messages[:5]),
         payload={"system": system.slug, "requirements": requirements, "environments": environments})


def _mark_failed(system_id: int, exc: Exception, now: datetime) -> None:
    """A recompute raised: no stored verdict of the system may keep showing a pass it can no longer
    vouch for. Each becomes a block naming the failure, untrusted, until a recompute succeeds."""
    failure: dict[str, Any] = {"id": RECOMPUTE_FAILED, "title": "Readiness can be computed", "status": RequirementStatus.FAILED,
               "message": f"the last readiness recompute failed: {exc}"[:1000],
               "fix": "It is retried; if it persists, an administrator must look at the server log.",
               "severity": "critical", "evidence": {}, "trace": {}, "valid_until": None, "since": now.isoformat()}
    try:
        with transaction.atomic():
            ReadinessVerdict.objects.filter(system_id=system_id).update(
                verdict=Verdict.BLOCK, requirements=[failure], computed_at=now, facts_version=UNTRUSTED_FACTS,
                valid_until=None)
    except Exception:
        log.exception("readiness: could not mark the stored verdicts of system %s as failed", system_id)
    log.error("readiness: recompute of system %s failed (%s); its stored verdicts block until it succeeds",
              system_id, exc)


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


def _disagreements(stored: dict[str, ReadinessVerdict], live: dict[str, Evaluation], policy_version: str,
                   facts_version: int = 0) -> list[str]:
    """What differs between the stored verdicts of one system and a live evaluation, readably. A
    verdict from an older facts version counts too: the gate would not serve it."""
    found = []
    for env, result in live.items():
        row = stored.get(env)
        if row is None:
            found.append(f"{env}: no stored verdict (live: {result.verdict})")
            continue
        if row.facts_version != facts_version:
            found.append(f"{env}: stored from facts version {row.facts_version}, the system's is {facts_version}")
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
        versions = dict(FactsVersion.objects.filter(system_id__in=batch).values_list("system_id", "version"))
        stored_by_system: dict[int, dict[str, ReadinessVerdict]] = {}
        for row in ReadinessVerdict.objects.filter(system_id__in=batch):
            stored_by_system.setdefault(row.system_id, {})[row.environment] = row
        for system in systems:
            counts["checked"] += 1
            try:
                facts = collect_facts(system)
                live = {env: evaluate(policy, env, facts, now) for env in policy.environments}
                found = _disagreements(stored_by_system.get(system.pk, {}), live, policy.version,
                                       versions.get(system.pk, 0))
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
