"""Check types: each reads the facts snapshot and the requirement's parameters, and says how the
requirement stands. Pure functions in a registry, so the engine, lint and tests share one list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from catalog.choices import LifecycleStage
from governance.choices import RequirementStatus
from governance.policy.facts import EvalTarget, IncidentFact, RiskFact, SystemFacts
from risks.choices import INCIDENT_OPEN, IncidentSeverity, IncidentStatus

if TYPE_CHECKING:
    from governance.policy.engine import Evaluation
    from governance.policy.loader import Policy


@dataclass(frozen=True)
class Outcome:
    status: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # When this outcome stops holding by the passage of time alone (expiry, freshness window).
    valid_until: datetime | None = None
    # Since when it has stood this way, when the facts say (an expiry, a freshness window).
    since: datetime | None = None


CheckFn = Callable[[SystemFacts, dict[str, Any], datetime], Outcome]
# A check that judges what the policy's other requirements concluded (``framework_controls``): it gets
# the policy and the evaluation of every requirement of the environment that is not such a check.
ResultsCheckFn = Callable[[SystemFacts, dict[str, Any], datetime, "Policy", "Evaluation"], Outcome]


@dataclass(frozen=True)
class CheckType:
    name: str
    fn: CheckFn
    params_schema: dict[str, Any]
    on_results: ResultsCheckFn | None = None


REGISTRY: dict[str, CheckType] = {}

# Where a person fixes an unmet requirement of each check type: a URL name taking the system slug,
# and a fragment of that page.
FIX_VIEWS: dict[str, tuple[str, str]] = {
    "owners_assigned": ("system-settings", ""),
    "model_card_published": ("model-card-edit", ""),
    "approval": ("system-detail", "reviews"),
    "decision_record_accepted": ("decision-create", ""),
    "eval_threshold": ("system-settings", ""),
    "runbook_linked": ("system-settings", ""),
    "lifecycle_stage": ("system-detail", ""),
    "risks_treated": ("system-risks", ""),
    "no_open_incidents": ("system-incidents", ""),
}


def check(name: str, params_schema: dict[str, Any] | None = None) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        REGISTRY[name] = CheckType(name, fn, params_schema or {"type": "object", "additionalProperties": False})
        return fn

    return register


def register_results_check(name: str, fn: ResultsCheckFn, params_schema: dict[str, Any],
                           fix_view: tuple[str, str] | None = None) -> None:
    """Add a check that reads the other requirements' results; an app adds it at start-up, since the
    engine cannot import the apps that build on it."""

    def unusable(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
        # Only the engine's second pass may run it: alone it has nothing to judge, so it fails closed.
        return Outcome(RequirementStatus.FAILED, f"the {name} check needs the other requirements' results")

    REGISTRY[name] = CheckType(name, unusable, params_schema, fn)
    if fix_view is not None:
        FIX_VIEWS[name] = fix_view


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


OWNER_ROLES = ["business", "technical", "risk"]


@check(
    "owners_assigned",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"roles": {"type": "array", "items": {"enum": OWNER_ROLES}, "minItems": 1}},
    },
)
def owners_assigned(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    roles = params.get("roles", OWNER_ROLES)
    missing = [role for role in roles if not facts.owners.get(role)]
    gone = [role for role in roles if facts.owners.get(role) in facts.inactive_owners]
    evidence = {"owners": {role: facts.owners.get(role) for role in roles}}
    if missing:
        return Outcome(RequirementStatus.MISSING, f"no {', '.join(missing)} owner assigned", evidence)
    if gone:
        return Outcome(RequirementStatus.MISSING, f"the {', '.join(gone)} owner has left (inactive account)", evidence)
    names = ", ".join(f"{r} {facts.owner_names.get(r) or facts.owners[r]}" for r in roles)
    return Outcome(RequirementStatus.MET, "owners assigned: " + names, evidence)


@check("model_card_published")
def model_card_published(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    if facts.published_model_card is None:
        return Outcome(RequirementStatus.MISSING, "no published model card")
    return Outcome(
        RequirementStatus.MET,
        f"model card v{facts.published_model_card} published",
        {"version": facts.published_model_card, "published_at": _iso(facts.model_card_published_at)},
    )


@check(
    "approval",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "properties": {"kind": {"enum": ["security", "legal", "privacy", "risk"]}},
    },
)
def approval(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    kind = params["kind"]
    mine = [a for a in facts.approvals if a.kind == kind]
    if not mine:
        return Outcome(RequirementStatus.MISSING, f"no {kind} review has been opened")
    # The most recent decision counts; an open review means the last decision no longer stands.
    latest = max(mine, key=lambda a: (a.decided_at is not None, a.decided_at or now))
    evidence = {"status": latest.status, "decided_by": latest.decided_by, "decided_at": _iso(latest.decided_at),
                "expires_at": _iso(latest.expires_at)}
    if any(a.status == "open" for a in mine):
        return Outcome(RequirementStatus.MISSING, f"the {kind} review is open, awaiting a decision", evidence)
    if latest.status == "rejected":
        return Outcome(RequirementStatus.FAILED, f"the {kind} review rejected it", evidence)
    if latest.status == "changes_requested":
        return Outcome(RequirementStatus.MISSING, f"the {kind} review requested changes", evidence)
    if latest.status != "approved":
        return Outcome(RequirementStatus.MISSING, f"no {kind} approval", evidence)
    if latest.expires_at is None:
        return Outcome(RequirementStatus.FAILED, f"the {kind} approval has no expiry date", evidence)
    if latest.expires_at <= now:
        return Outcome(RequirementStatus.STALE, f"the {kind} approval expired on {latest.expires_at:%Y-%m-%d}", evidence,
                       since=latest.expires_at)
    return Outcome(
        RequirementStatus.MET,
        f"{kind} approved by {latest.decided_by}, valid until {latest.expires_at:%Y-%m-%d}",
        evidence,
        valid_until=latest.expires_at,
    )


@check(
    "decision_record_accepted",
    {"type": "object", "additionalProperties": False, "properties": {"min": {"type": "integer", "minimum": 1}}},
)
def decision_record_accepted(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    needed = params.get("min", 1)
    evidence = {"accepted": facts.accepted_decisions}
    if facts.accepted_decisions < needed:
        return Outcome(RequirementStatus.MISSING, f"{facts.accepted_decisions} accepted decision record(s), {needed} needed", evidence)
    return Outcome(RequirementStatus.MET, f"{facts.accepted_decisions} accepted decision record(s)", evidence)


@check(
    "eval_threshold",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["max_age_days"],
        "properties": {"max_age_days": {"type": "integer", "minimum": 1}},
    },
)
def eval_threshold(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    """Every metric requirement of the system (primary metric first): a result exists for the
    deployed model version (and the required dataset), meets its threshold, has not regressed past
    the allowed amount against the baseline, and is fresher than the maximum age."""
    judged = metric_outcomes(facts, params, now)
    if not judged:
        return Outcome(RequirementStatus.MISSING, "no primary evaluation metric and threshold set for the system")
    outcomes = [outcome for _, outcome in judged]
    if len(outcomes) == 1:
        return outcomes[0]
    worst = max(outcomes, key=lambda o: _SEVERITY.get(o.status, 9))
    shown = [o for o in outcomes if o.status != RequirementStatus.MET] or outcomes
    moments = [o.valid_until for o in outcomes if o.valid_until is not None]
    return Outcome(
        worst.status,
        "; ".join(o.message for o in shown),
        {"metrics": [o.evidence for o in outcomes]},
        valid_until=min(moments) if worst.status == RequirementStatus.MET and moments else None,
        since=worst.since,
    )


def metric_outcomes(facts: SystemFacts, params: dict[str, Any], now: datetime) -> list[tuple[EvalTarget, Outcome]]:
    """Each metric requirement of the system (primary metric first) with its own outcome: what
    ``eval_threshold`` combines into one status, for pages that show the metrics one by one."""
    targets = facts.eval_targets or ((facts.eval_target,) if facts.eval_target else ())
    if not targets:
        return []
    latest = facts.eval_latest if facts.eval_targets else (facts.latest_eval,)
    return [(t, _metric_outcome(t, r, facts.model_version, params["max_age_days"], now))
            for t, r in zip(targets, latest, strict=True)]


_SEVERITY: dict[str, int] = {RequirementStatus.MET: 0, RequirementStatus.STALE: 1, RequirementStatus.MISSING: 2, RequirementStatus.FAILED: 3}


def _metric_outcome(target: Any, result: Any, model_version: str, policy_max_age: int, now: datetime) -> Outcome:
    on = f" on {target.dataset}" if target.dataset else ""
    if result is None:
        version = f" for model version {model_version}" if model_version and target.require_version_match else ""
        return Outcome(RequirementStatus.MISSING, f"no {target.metric} result{on}{version}",
                       {"metric": target.metric, "dataset": target.dataset})
    evidence = {
        "metric": result.metric,
        "value": result.value,
        "threshold": target.threshold,
        "higher_is_better": target.higher_is_better,
        "observed_at": _iso(result.observed_at),
        "model_version": result.model_version,
        "dataset": result.dataset,
        "source": result.source,
        "run": result.source_run_id,
    }
    meets = result.value >= target.threshold if target.higher_is_better else result.value <= target.threshold
    comparator = ">=" if target.higher_is_better else "<="
    if not meets:
        return Outcome(
            RequirementStatus.FAILED,
            f"{result.metric} = {result.value:g}, needs {comparator} {target.threshold:g}",
            evidence,
        )
    if target.baseline is not None and target.max_regression is not None:
        drop = target.baseline - result.value if target.higher_is_better else result.value - target.baseline
        evidence |= {"baseline": target.baseline, "max_regression": target.max_regression}
        if drop > target.max_regression + 1e-12:
            return Outcome(
                RequirementStatus.FAILED,
                f"{result.metric} = {result.value:g} regressed by {drop:g} from the baseline {target.baseline:g} "
                f"(at most {target.max_regression:g} allowed)",
                evidence,
            )
    days = min(policy_max_age, target.max_age_days) if target.max_age_days else policy_max_age
    fresh_until = result.observed_at + timedelta(days=days)
    if fresh_until <= now:
        return Outcome(
            RequirementStatus.STALE,
            f"evidence stale since {fresh_until:%Y-%m-%d}: the last {result.metric} result is from "
            f"{result.observed_at:%Y-%m-%d}, older than {days} days",
            evidence,
            since=fresh_until,
        )
    return Outcome(
        RequirementStatus.MET,
        f"{result.metric} = {result.value:g} ({comparator} {target.threshold:g}), measured {result.observed_at:%Y-%m-%d}",
        evidence,
        valid_until=fresh_until,
    )


@check(
    "cost_within_budget",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"tolerance_percent": {"type": "number", "minimum": 0}},
    },
)
def cost_within_budget(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    """This calendar month's effective cost (UTC, in the budget's currency) is within the system's
    monthly budget, plus an optional tolerance. Not in the shipped policy: add it where cost gates."""
    cost = facts.cost
    if cost is None:
        return Outcome(RequirementStatus.MISSING, "no monthly cost budget set for the system")
    tolerance = Decimal(str(params.get("tolerance_percent", 0)))
    limit = cost.budget * (1 + tolerance / 100)
    evidence = {"spent": str(cost.spent), "budget": str(cost.budget), "currency": cost.currency,
                "since": _iso(cost.month_start), "tolerance_percent": float(tolerance)}
    # The month's spend starts again at the next month: recompute then.
    next_month = (cost.month_start + timedelta(days=32)).replace(day=1)
    if cost.spent > limit:
        return Outcome(
            RequirementStatus.FAILED,
            f"{cost.spent:.2f} {cost.currency} spent since {cost.month_start:%Y-%m-%d}, over the monthly budget of "
            f"{cost.budget:.2f} by {cost.spent - cost.budget:.2f}",
            evidence, valid_until=next_month,
        )
    return Outcome(RequirementStatus.MET, f"{cost.spent:.2f} of {cost.budget:.2f} {cost.currency} spent this month",
                   evidence, valid_until=next_month)


@check("runbook_linked")
def runbook_linked(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    if not facts.runbook_url:
        return Outcome(RequirementStatus.MISSING, "no runbook linked")
    return Outcome(RequirementStatus.MET, "runbook linked", {"url": facts.runbook_url})


@check(
    "lifecycle_stage",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["not_in"],
        "properties": {"not_in": {"type": "array", "items": {"enum": list(LifecycleStage.values)}, "minItems": 1,
                                  "uniqueItems": True}},
    },
)
def lifecycle_stage(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    """The system's lifecycle stage is not one the policy refuses to deploy (a retired system)."""
    stage = facts.lifecycle_stage
    evidence = {"lifecycle_stage": stage}
    if stage not in LifecycleStage.values:
        # Fail closed: a stage the policy cannot name is not one it allowed.
        return Outcome(RequirementStatus.FAILED, f"the system's lifecycle stage {stage!r} is unknown", evidence)
    label = LifecycleStage(stage).label.lower()
    if stage in params["not_in"]:
        return Outcome(RequirementStatus.FAILED, f"system is {label}", evidence)
    return Outcome(RequirementStatus.MET, f"lifecycle stage: {label}", evidence)


@check(
    "risks_treated",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # A system with no risk recorded is unmet (the register must not be empty).
            "require_register": {"type": "boolean"},
            # A stricter appetite than the tier's (settings.RISK_APPETITE); the lower of the two applies.
            "max_residual_score": {"type": "integer", "minimum": 0},
        },
    },
)
def risks_treated(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    """No risk above the appetite without a treatment, and no residual risk above it without a current
    acceptance by the system's risk owner (pinned to the scores and treatment, unexpired)."""
    if facts.risk_appetite is None:
        # Fail closed: a snapshot that did not read the register cannot say the risks are treated.
        return Outcome(RequirementStatus.MISSING, "the risk register was not read for this system")
    appetite = facts.risk_appetite
    if "max_residual_score" in params:
        appetite = min(appetite, int(params["max_residual_score"]))
    evidence: dict[str, Any] = {"appetite": appetite, "risks": len(facts.risks)}
    if not facts.risks:
        if params.get("require_register"):
            return Outcome(RequirementStatus.MISSING, "no risk recorded in the register", evidence)
        return Outcome(RequirementStatus.MET, "no risk recorded above the appetite (the register is empty)", evidence)
    untreated: list[RiskFact] = []
    unaccepted: list[RiskFact] = []
    accepted: list[RiskFact] = []
    for risk in facts.risks:
        if risk.residual_score <= appetite:
            continue
        if not risk.treatment:
            untreated.append(risk)
        elif risk.accepted_until is not None and risk.accepted_until > now:
            accepted.append(risk)
        else:
            unaccepted.append(risk)
    evidence |= {
        "untreated": [r.id for r in untreated],
        "above_appetite_unaccepted": [r.id for r in unaccepted],
        "accepted": [{"risk": r.id, "by": r.accepted_by, "until": _iso(r.accepted_until)} for r in accepted],
    }
    if untreated or unaccepted:
        parts = [f"risk {r.id} \"{r.title}\" scores {r.score} (appetite {appetite}) and has no treatment"
                 for r in untreated]
        parts += [f"risk {r.id} \"{r.title}\" has a residual score of {r.residual_score} (appetite {appetite}) "
                  "without a current acceptance by the risk owner" for r in unaccepted]
        return Outcome(RequirementStatus.FAILED, "; ".join(parts), evidence)
    valid_until = min((r.accepted_until for r in accepted if r.accepted_until), default=None)
    message = f"{len(facts.risks)} risks within the appetite of {appetite}"
    if accepted:
        message += f", {len(accepted)} above it accepted by the risk owner"
    return Outcome(RequirementStatus.MET, message, evidence, valid_until=valid_until)


INCIDENT_SEVERITIES = list(IncidentSeverity.values)
OPEN_INCIDENT_STATES = [s for s in IncidentStatus.values if s in INCIDENT_OPEN]


@check(
    "no_open_incidents",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # Count only serious incidents in the EU AI Act's sense (default true).
            "serious_only": {"type": "boolean"},
            # Count only incidents of these severities (default: every severity).
            "severities": {"type": "array", "items": {"enum": INCIDENT_SEVERITIES}, "minItems": 1, "uniqueItems": True},
            # Count only incidents in these states (default: every state short of closed).
            "states": {"type": "array", "items": {"enum": OPEN_INCIDENT_STATES}, "minItems": 1, "uniqueItems": True},
        },
    },
)
def no_open_incidents(facts: SystemFacts, params: dict[str, Any], now: datetime) -> Outcome:
    """No incident that the parameters count is open on the system; the answer names each one and who
    handles it."""
    if facts.incidents is None:
        # Fail closed: a snapshot that did not read the register cannot say there is no open incident.
        return Outcome(RequirementStatus.MISSING, "the incident register was not read for this system")
    serious_only = params.get("serious_only", True)
    severities = set(params.get("severities", INCIDENT_SEVERITIES))
    states = set(params.get("states", OPEN_INCIDENT_STATES))
    counted: list[IncidentFact] = [
        i for i in facts.incidents
        if (i.serious or not serious_only) and i.severity in severities and i.status in states
    ]
    kind = "serious incident" if serious_only else "incident"
    evidence: dict[str, Any] = {
        "open_incidents": len(facts.incidents),
        "blocking": [{"id": i.id, "reference": f"INC-{i.id}", "title": i.title, "severity": i.severity,
                      "status": i.status, "serious": i.serious, "handled_by": i.owner or None} for i in counted],
    }
    if counted:
        parts = [f"INC-{i.id} \"{i.title}\" ({'serious, ' if i.serious else ''}{i.severity}, {i.status}) is open, "
                 f"handled by {i.owner_name or i.owner or 'nobody yet'}" for i in counted]
        return Outcome(RequirementStatus.FAILED, "; ".join(parts), evidence)
    if facts.incidents:
        return Outcome(RequirementStatus.MET, f"no open {kind} that blocks a deploy ({len(facts.incidents)} other "
                                              f"open incident{'s' if len(facts.incidents) != 1 else ''})", evidence)
    return Outcome(RequirementStatus.MET, f"no open {kind}", evidence)
