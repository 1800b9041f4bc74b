"""Evaluation: a pure function from (policy, environment, facts, now) to a verdict with a trace.

Nothing here touches the database or the clock: the same inputs give the same verdict, which is
what the readiness page, the Celery recomputation and the gate all call. Fail closed: a check that
raises makes its requirement failed, and only a complete evaluation where every applicable
requirement is met (or waived) passes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from clearance import conditions
from governance.choices import PASSING_STATUSES, RequirementStatus, Verdict
from governance.policy.checks import REGISTRY
from governance.policy.facts import SystemFacts
from governance.policy.loader import Policy, Requirement


class UnknownEnvironment(LookupError):
    pass


@dataclass(frozen=True)
class RequirementResult:
    id: str
    title: str
    status: str
    message: str
    fix: str
    severity: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # Which facts decided it: the applicability test and the check's own reading.
    trace: dict[str, Any] = field(default_factory=dict)
    valid_until: datetime | None = None

    @property
    def passing(self) -> bool:
        return self.status in PASSING_STATUSES

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["valid_until"] = self.valid_until.isoformat() if self.valid_until else None
        return data


@dataclass(frozen=True)
class Evaluation:
    verdict: str
    environment: str
    policy_name: str
    policy_version: str
    evaluated_at: datetime
    requirements: tuple[RequirementResult, ...]
    not_applicable: tuple[dict[str, str], ...] = ()

    @property
    def valid_until(self) -> datetime | None:
        moments = [r.valid_until for r in self.requirements if r.valid_until is not None]
        return min(moments) if moments else None

    @property
    def unmet(self) -> list[RequirementResult]:
        return [r for r in self.requirements if not r.passing]


def _applicability(req: Requirement, facts: SystemFacts) -> tuple[bool, str]:
    if facts.risk_tier not in req.tiers:
        return False, f"tier {facts.risk_tier} is not in {', '.join(req.tiers)}"
    if req.when is not None and not conditions.evaluate(req.when, facts.condition_facts()):
        return False, "its condition does not hold"
    return True, ""


def evaluate(policy: Policy, environment: str, facts: SystemFacts, now: datetime) -> Evaluation:
    if environment not in policy.environments:
        raise UnknownEnvironment(environment)
    results: list[RequirementResult] = []
    skipped: list[dict[str, str]] = []
    for req in policy.requirements_for(environment):
        try:
            applies, why_not = _applicability(req, facts)
        except Exception as exc:  # fail closed: an unreadable condition is a failed requirement
            results.append(
                RequirementResult(req.id, req.title, RequirementStatus.FAILED,
                                  f"could not decide whether it applies: {exc}", req.fix, req.severity)
            )
            continue
        if not applies:
            skipped.append({"id": req.id, "title": req.title, "reason": why_not})
            continue
        try:
            outcome = REGISTRY[req.check].fn(facts, req.params, now)
            status, message = outcome.status, outcome.message
            if status not in RequirementStatus.values:
                status, message = RequirementStatus.FAILED, f"check returned an unknown status {status!r}"
        except Exception as exc:  # fail closed: a check that raises never passes
            results.append(
                RequirementResult(req.id, req.title, RequirementStatus.FAILED,
                                  f"the {req.check} check could not run: {exc}", req.fix, req.severity,
                                  trace={"check": req.check, "error": repr(exc)})
            )
            continue
        results.append(
            RequirementResult(
                id=req.id,
                title=req.title,
                status=status,
                message=message,
                fix="" if status in PASSING_STATUSES else req.fix,
                severity=req.severity,
                evidence=outcome.evidence,
                trace={"check": req.check, "params": req.params, "tier": facts.risk_tier, "when": req.when},
                valid_until=outcome.valid_until,
            )
        )
    # Severity only ranks findings for people and CI annotations; every unmet requirement blocks.
    verdict = Verdict.BLOCK if any(not r.passing for r in results) else Verdict.PASS
    return Evaluation(verdict, environment, policy.name, policy.version, now, tuple(results), tuple(skipped))
