"""The gate: answer whether a system may deploy to an environment on behalf of CI, and record the call.

The answer is the stored verdict when it is current (``governance.selectors.gate``); otherwise the
gate recomputes and stores the system's readiness as the outbox task would, and answers from that;
if that fails it evaluates live, and if that fails too it blocks with the reason."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from clearance.models import ApiToken
from clearance.outages import is_outage
from governance.choices import (
    PASSING_STATUSES,
    RequirementStatus,
    Verdict,
)
from governance.models import GateCheck, ReadinessVerdict
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import Policy
from governance.selectors.facts import collect_facts
from governance.selectors.gate import StoredVerdict
from governance.services.readiness import readiness_recompute_all, with_since
from integrations.choices import EventKind
from integrations.events import emit

log = logging.getLogger(__name__)

# A block in this environment is reported to the webhooks subscribed to "gate blocked" (a block in
# staging is the gate doing its everyday job; in production it stops a release).
PRODUCTION = "production"


def _gate_failure(req_id: str, title: str, message: str, fix: str) -> dict[str, Any]:
    return {"id": req_id, "title": title, "status": RequirementStatus.FAILED, "message": message, "fix": fix,
            "severity": "critical", "evidence": {}, "since": None}


@dataclass(frozen=True)
class GateResult:
    check: GateCheck
    evaluation: Evaluation | None


def gate_check(
    *,
    user: User,
    token: ApiToken | None,
    system: AISystem,
    environment: str,
    policy: Policy | None,
    policy_error: str = "",
    version: str = "",
    commit: str = "",
    pipeline_url: str = "",
) -> GateResult:
    """Evaluate and record one gate call. Fail closed: with no loadable policy, or facts that cannot
    be read, or an evaluation that raises, the answer is a block naming the reason."""
    started = time.perf_counter()
    now = timezone.now()
    evaluation = None
    if policy is not None:
        policy_name, policy_version = policy.name, policy.version
        stored = _recompute_for_gate(system, environment, policy)
        if stored is not None:
            check = _record(system=system, environment=environment, version=version, commit=commit,
                            pipeline_url=pipeline_url, verdict=stored[0].verdict, policy_name=policy_name,
                            policy_version=policy_version, requirements=stored[1], user=user, token=token,
                            now=now, started=started)
            return GateResult(check, stored[0])
        try:
            facts = collect_facts(system)
        except Exception as exc:
            if is_outage(exc):
                raise  # the database is down or too slow: the API answers 503 and the client retries
            log.exception("gate: facts of %s could not be read", system.slug)
            requirements = [_gate_failure("facts-readable", "System facts can be read",
                                          f"the facts of {system.slug} could not be read: {exc}",
                                          "Retry; if it persists, an administrator must look at the server log.")]
        else:
            try:
                evaluation = evaluate(policy, environment, facts, now)
            except Exception as exc:
                log.exception("gate: evaluation of %s in %s raised", system.slug, environment)
                requirements = [_gate_failure("evaluation-complete", "Evaluation completes",
                                              f"the evaluation could not complete: {exc}",
                                              "Retry; if it persists, run `manage.py policy explain` to see why.")]
            else:
                requirements = [r.as_json() for r in evaluation.requirements]
                if evaluation.unmet:  # since when: only unmet requirements need the stored snapshot
                    stored = (ReadinessVerdict.objects.filter(system=system, environment=environment)
                              .values_list("requirements", flat=True).first())
                    requirements = with_since(requirements, stored or [], now)
        verdict = evaluation.verdict if evaluation is not None else Verdict.BLOCK
    else:
        verdict = Verdict.BLOCK
        requirements = [
            _gate_failure("policy-loaded", "Readiness policy loads",
                          f"the readiness policy could not be loaded: {policy_error}",
                          "Fix the policy file (run `manage.py policy lint`); Clearance blocks every deploy until it loads.")
        ]
        policy_name, policy_version = "unavailable", ""
    check = _record(system=system, environment=environment, version=version, commit=commit,
                    pipeline_url=pipeline_url, verdict=verdict, policy_name=policy_name,
                    policy_version=policy_version, requirements=requirements, user=user, token=token,
                    now=now, started=started)
    return GateResult(check, evaluation)


def gate_check_stored(
    *,
    user: User,
    token: ApiToken | None,
    row: StoredVerdict,
    version: str = "",
    commit: str = "",
    pipeline_url: str = "",
) -> GateResult:
    """Record one gate call answered from a stored verdict the caller has found current
    (``governance.selectors.gate.why_not_current``): one insert, nothing evaluated."""
    started = time.perf_counter()
    check = _record(system=row.system, environment=row.environment, version=version, commit=commit,
                    pipeline_url=pipeline_url, verdict=row.verdict, policy_name=row.policy_name,
                    policy_version=row.policy_version, requirements=row.requirements, user=user, token=token,
                    now=timezone.now(), started=started)
    return GateResult(check, None)


def _recompute_for_gate(system: AISystem, environment: str, policy: Policy,
                        ) -> tuple[Evaluation, list[dict[str, Any]]] | None:
    """No current stored verdict: recompute the system's readiness the way the outbox task does
    (stored, audited, under the active version) and answer from it, so the next call is fast. None
    when that fails or used another policy version than ``policy``: the caller evaluates live."""
    try:
        results = readiness_recompute_all(system_id=system.pk, reason="asked at the gate; no current stored verdict")
    except Exception as exc:
        if is_outage(exc):
            raise
        log.warning("gate: the readiness recompute of %s failed (%s); evaluating live", system.slug, exc)
        return None
    result = results.get(environment)
    if result is None or result[0].policy_version != policy.version:
        return None
    requirements = (ReadinessVerdict.objects.filter(system=system, environment=environment)
                    .values_list("requirements", flat=True).first())
    return (result[0], requirements) if requirements is not None else None


def _record(*, system: AISystem, environment: str, version: str, commit: str, pipeline_url: str, verdict: str,
            policy_name: str, policy_version: str, requirements: list[dict[str, Any]], user: User,
            token: ApiToken | None, now: datetime, started: float) -> GateCheck:
    if verdict == Verdict.BLOCK and environment == PRODUCTION:
        with transaction.atomic():
            check = _insert(system=system, environment=environment, version=version, commit=commit,
                            pipeline_url=pipeline_url, verdict=verdict, policy_name=policy_name,
                            policy_version=policy_version, requirements=requirements, user=user, token=token,
                            now=now, started=started)
            unmet = [r for r in requirements if r.get("status") not in PASSING_STATUSES]
            # A gate answered from a stored verdict holds a system with only its key fields loaded.
            subject = AISystem.objects.filter(pk=system.pk).first() or system
            emit(kind=EventKind.GATE_BLOCKED, subject=subject, actor=user,
                 summary=f"The gate blocked a production deploy of {system.slug}"
                         f"{' version ' + version if version else ''}: "
                         + "; ".join(str(r.get("message") or r.get("id")) for r in unmet[:5]),
                 payload={"system": system.slug, "environment": environment, "version": version,
                          "commit": commit, "pipeline_url": pipeline_url, "policy_version": policy_version[:12],
                          "unmet": [r.get("id") for r in unmet], "check": check.pk})
        return check
    return _insert(system=system, environment=environment, version=version, commit=commit,
                   pipeline_url=pipeline_url, verdict=verdict, policy_name=policy_name,
                   policy_version=policy_version, requirements=requirements, user=user, token=token,
                   now=now, started=started)


def _insert(*, system: AISystem, environment: str, version: str, commit: str, pipeline_url: str, verdict: str,
            policy_name: str, policy_version: str, requirements: list[dict[str, Any]], user: User,
            token: ApiToken | None, now: datetime, started: float) -> GateCheck:
    return GateCheck.objects.create(
        system=system,
        environment=environment,
        version=version,
        commit=commit,
        pipeline_url=pipeline_url,
        verdict=verdict,
        policy_name=policy_name,
        policy_version=policy_version,
        requirements=requirements,
        user=user,
        token=token,
        checked_at=now,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
