"""Evaluation: a pure function from (policy, environment, facts, now) to a verdict with a trace.

Nothing here touches the database or the clock: the same inputs give the same verdict, which is
what the readiness page, the Celery recomputation and the gate all call. Fail closed: a check that
raises makes its requirement failed, and only a complete evaluation where every applicable
requirement is met (or waived) passes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clearance import conditions
from governance.choices import PASSING_STATUSES, RequirementStatus, Verdict
from governance.policy.checks import REGISTRY
from governance.policy.facts import SystemFacts, WaiverFact
from governance.policy.loader import Policy, Requirement

CHECK_STATUSES = frozenset(RequirementStatus.values) - {RequirementStatus.WAIVED}

# How a requirement stands when it was not judged: out of scope for the system, or not in the environment.
NOT_APPLICABLE = "not_applicable"
ABSENT = "absent"


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
    since: datetime | None = None

    @property
    def passing(self) -> bool:
        return self.status in PASSING_STATUSES

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["valid_until"] = self.valid_until.isoformat() if self.valid_until else None
        data["since"] = self.since.isoformat() if self.since else None
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

    def outcome_of(self, requirement_id: str) -> tuple[str, str]:
        """How one requirement stands, with the reason: its status and message when it was judged,
        ``not_applicable`` when the system's tier or facts put it out of scope, ``absent`` when the
        environment does not have it."""
        for result in self.requirements:
            if result.id == requirement_id:
                return result.status, result.message
        for skipped in self.not_applicable:
            if skipped["id"] == requirement_id:
                return NOT_APPLICABLE, skipped["reason"]
        return ABSENT, f"not a requirement of {self.environment} in this policy"


def _applicability(req: Requirement, facts: SystemFacts) -> tuple[bool, str]:
    if facts.risk_tier not in req.tiers:
        return False, f"tier {facts.risk_tier} is not in {', '.join(req.tiers)}"
    if req.when is not None and not conditions.evaluate(req.when, facts.condition_facts()):
        return False, "its condition does not hold"
    return True, ""


# The id of the finding that blocks when no requirement applies (environments without allow_empty).
NOTHING_APPLIES = "requirements-apply"

# A facts snapshot read longer ago than this is not evidence of the present: it blocks.
MAX_SNAPSHOT_AGE = timedelta(minutes=10)


def _live_waiver(req: Requirement, facts: SystemFacts, now: datetime) -> WaiverFact | None:
    live = [w for w in facts.waivers if w.requirement == req.id and w.expires_at > now]
    return max(live, key=lambda w: w.expires_at) if live else None


def _waive(result: RequirementResult, waiver: WaiverFact) -> RequirementResult:
    """The requirement stays unmet underneath; the waiver is shown with who, until when and why."""
    return RequirementResult(
        id=result.id,
        title=result.title,
        status=RequirementStatus.WAIVED,
        message=f"waived by {waiver.approved_by} until {waiver.expires_at:%Y-%m-%d %H:%M} UTC: {waiver.justification} "
                f"(underneath: {result.status}, {result.message})",
        fix="",
        severity=result.severity,
        evidence={**result.evidence, "waiver": {"id": waiver.id, "approved_by": waiver.approved_by,
                                                "expires_at": waiver.expires_at.isoformat(),
                                                "justification": waiver.justification,
                                                "underlying_status": result.status}},
        trace={**result.trace, "waiver": waiver.id},
        # Readiness is recomputed when the waiver expires.
        valid_until=waiver.expires_at,
        since=result.since,
    )


def _judge(req: Requirement, facts: SystemFacts, now: datetime,
           context: tuple[Policy, Evaluation] | None) -> RequirementResult | dict[str, str]:
    """One requirement: its result, or (a dict) why it does not apply to the system."""
    try:
        applies, why_not = _applicability(req, facts)
    except Exception as exc:  # fail closed: an unreadable condition is a failed requirement
        return RequirementResult(req.id, req.title, RequirementStatus.FAILED,
                                 f"could not decide whether it applies: {exc}", req.fix, req.severity)
    if not applies:
        return {"id": req.id, "title": req.title, "reason": why_not}
    try:
        check_type = REGISTRY[req.check]
        if context is not None and check_type.on_results is not None:
            outcome = check_type.on_results(facts, req.params, now, *context)
        else:
            outcome = check_type.fn(facts, req.params, now)
        status, message = outcome.status, outcome.message
        # Only the engine waives (from an approved waiver); a check that says so is a broken check.
        if status not in CHECK_STATUSES:
            status, message = RequirementStatus.FAILED, f"check returned an unknown status {status!r}"
    except Exception as exc:  # fail closed: a check that raises never passes
        return RequirementResult(req.id, req.title, RequirementStatus.FAILED,
                                 f"the {req.check} check could not run: {exc}", req.fix, req.severity,
                                 trace={"check": req.check, "error": repr(exc)})
    result = RequirementResult(
        id=req.id,
        title=req.title,
        status=status,
        message=message,
        fix="" if status in PASSING_STATUSES else req.fix,
        severity=req.severity,
        evidence=outcome.evidence,
        trace={"check": req.check, "params": req.params, "tier": facts.risk_tier, "when": req.when},
        valid_until=outcome.valid_until,
        since=None if status in PASSING_STATUSES else outcome.since,
    )
    waiver = None if result.passing or not req.waivable else _live_waiver(req, facts, now)
    return _waive(result, waiver) if waiver else result


def evaluate(
    policy: Policy, environment: str, facts: SystemFacts, now: datetime,
    max_snapshot_age: timedelta = MAX_SNAPSHOT_AGE,
) -> Evaluation:
    if environment not in policy.environments:
        raise UnknownEnvironment(environment)
    results: list[RequirementResult] = []
    skipped: list[dict[str, str]] = []
    if facts.collected_at is not None and now - facts.collected_at > max_snapshot_age:
        results.append(RequirementResult(
            "facts-fresh", "Facts snapshot is current", RequirementStatus.STALE,
            f"the facts were read at {facts.collected_at.isoformat()}, more than {max_snapshot_age} before "
            f"the evaluation at {now.isoformat()}",
            "Evaluate again from a fresh snapshot.", "critical",
            trace={"collected_at": facts.collected_at.isoformat()},
        ))
    evaluated = 0
    # Checks that judge the other requirements' results run second, on an evaluation of the rest, so
    # what they read is exactly what the gate concluded for those requirements in this same run.
    judged: dict[str, RequirementResult] = {}
    later: list[Requirement] = []
    chosen = policy.requirements_for(environment)
    for req in chosen:
        check_type = REGISTRY.get(req.check)
        if check_type is not None and check_type.on_results is not None:
            later.append(req)
            continue
        outcome = _judge(req, facts, now, None)
        if isinstance(outcome, dict):
            skipped.append(outcome)
        else:
            evaluated += 1
            judged[req.id] = outcome
    if later:
        first = tuple(judged[r.id] for r in chosen if r.id in judged)
        # A control mapped to one of these would judge itself: such a mapping fails closed.
        circular = tuple(RequirementResult(r.id, r.title, RequirementStatus.FAILED,
                                           f"a {r.check} requirement cannot evidence a control", r.fix, r.severity)
                         for r in later)
        partial = Evaluation(Verdict.BLOCK, environment, policy.name, policy.version, now, first + circular,
                             tuple(skipped))
        for req in later:
            outcome = _judge(req, facts, now, (policy, partial))
            if isinstance(outcome, dict):
                skipped.append(outcome)
            else:
                evaluated += 1
                judged[req.id] = outcome
    results.extend(judged[r.id] for r in chosen if r.id in judged)
    if not evaluated and not policy.environments[environment].allow_empty:
        # Nothing was checked, so nothing vouches for the deploy: only an explicit allow_empty passes.
        results.append(RequirementResult(
            NOTHING_APPLIES, "At least one requirement applies", RequirementStatus.FAILED,
            f"no requirement of policy {policy.name} applies to this system in {environment}, and a gate "
            f"with nothing to check does not pass",
            f"Add a requirement for {environment} to the readiness policy, or set `allow_empty: true` on "
            f"the {environment} environment if deploying there needs nothing.", "critical",
            trace={"environment": environment, "not_applicable": [s["id"] for s in skipped]},
        ))
    # Severity only ranks findings for people and CI annotations; every unmet requirement blocks.
    verdict = Verdict.BLOCK if any(not r.passing for r in results) else Verdict.PASS
    return Evaluation(verdict, environment, policy.name, policy.version, now, tuple(results), tuple(skipped))
