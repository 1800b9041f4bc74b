"""The evidence portfolio: every system × the readiness requirements of one environment, as the policy
engine judges them, and the evaluation requirement broken down by metric next to this month's budget.

Nothing here judges evidence: every status and reason is the engine's, from the same facts snapshot as
the gate (``collect_facts_many`` is the gate's own code path), so waivers, tiers and conditions count
here exactly as they count there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from catalog.models import AISystem
from clearance.policyfile import PolicyError
from governance.choices import RequirementStatus
from governance.policy.checks import REGISTRY, metric_outcomes
from governance.policy.engine import NOT_APPLICABLE, Evaluation, evaluate
from governance.policy.facts import EvalTarget, SystemFacts
from governance.policy.loader import Policy, Requirement, load_readiness_policy
from governance.selectors.facts import collect_facts_many

# The statuses a cell of the requirement matrix can have, in the order the page counts them.
CELL_STATUSES = (*RequirementStatus.values, NOT_APPLICABLE)

Cell = dict[str, str]


@dataclass
class EvidencePortfolio:
    environment: str = ""
    environments: list[str] = field(default_factory=list)
    policy_error: str = ""
    # The requirement matrix: (id, title) columns, and per system one cell per column.
    requirements: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[AISystem, list[Cell]]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    # The evaluation requirement by metric (label columns, None where a system has no such metric),
    # and the budget cell.
    columns: list[str] = field(default_factory=list)
    grid: list[tuple[AISystem, list[Cell | None], Cell]] = field(default_factory=list)


def metric_label(target: EvalTarget) -> str:
    return target.metric + (f" on {target.dataset}" if target.dataset else "")


def choose_environment(policy: Policy, wanted: str) -> str:
    """The environment asked for when the policy has it, else production, else the policy's first."""
    if wanted in policy.environments:
        return wanted
    return "production" if "production" in policy.environments else next(iter(policy.environments))


def evidence_portfolio(systems: list[AISystem], environment: str, now: datetime) -> EvidencePortfolio:
    """Systems read through ``for_facts`` cost a fixed number of queries, however many there are."""
    portfolio = EvidencePortfolio()
    facts = collect_facts_many(systems, now)
    policy: Policy | None = None
    try:
        policy = load_readiness_policy()
    except PolicyError as exc:
        portfolio.policy_error = exc.message
    evaluations: dict[int, Evaluation] = {}
    failures: dict[int, str] = {}
    if policy is not None:
        portfolio.environments = list(policy.environments)
        portfolio.environment = choose_environment(policy, environment)
        for system in systems:
            try:
                evaluations[system.pk] = evaluate(policy, portfolio.environment, facts[system.pk], now)
            except Exception as exc:  # fail closed, as the gate does: the row shows why
                failures[system.pk] = f"the evaluation could not complete: {exc}"
        applicable = policy.requirements_for(portfolio.environment)
        portfolio.requirements = [(r.id, r.title) for r in applicable]
        known = {r.id for r in applicable}
        for found in evaluations.values():  # findings of the engine's own, such as a stale snapshot
            for result in found.requirements:
                if result.id not in known:
                    known.add(result.id)
                    portfolio.requirements.append((result.id, result.title))
    by_metric: list[tuple[AISystem, dict[str, Cell], Cell]] = []
    for system in systems:
        evaluation = evaluations.get(system.pk)
        failure = failures.get(system.pk, "")
        if policy is not None:
            portfolio.rows.append((system, [
                _cell(*evaluation.outcome_of(req_id)) if evaluation is not None
                else _cell(RequirementStatus.FAILED, failure)
                for req_id, _ in portfolio.requirements
            ]))
        judged = _judge(policy, portfolio.environment, evaluation, failure or portfolio.policy_error)
        cells = _metric_cells(facts[system.pk], judged, now)
        for label in cells:
            if label not in portfolio.columns:
                portfolio.columns.append(label)
        by_metric.append((system, cells, _budget_cell(facts[system.pk], policy, portfolio.environment,
                                                      evaluation, failure, now)))
    portfolio.grid = [(system, [cells.get(c) for c in portfolio.columns], budget) for system, cells, budget in by_metric]
    portfolio.totals = {status: sum(1 for _, cells in portfolio.rows for c in cells if c["status"] == status)
                        for status in CELL_STATUSES}
    return portfolio


def _cell(status: str, message: str) -> Cell:
    return {"status": str(status), "message": message}


@dataclass(frozen=True)
class _Judged:
    """How the environment's evaluation requirement stands for one system: a requirement whose check ran
    (its metrics are shown one by one), or a status and reason that holds for every metric."""

    requirement: Requirement | None = None
    status: str = ""
    message: str = ""


def _judge(policy: Policy | None, environment: str, evaluation: Evaluation | None, failure: str) -> _Judged:
    if policy is None:
        return _Judged(status=RequirementStatus.FAILED, message=f"policy failed to load: {failure}")
    if evaluation is None:
        return _Judged(status=RequirementStatus.FAILED, message=failure)
    requirement = next((r for r in policy.requirements_for(environment) if r.check == "eval_threshold"), None)
    if requirement is None:
        return _Judged(status=NOT_APPLICABLE,
                       message=f"no requirement of {environment} judges evaluation results")
    status, message = evaluation.outcome_of(requirement.id)
    result = next((r for r in evaluation.requirements if r.id == requirement.id), None)
    ran = result is not None and result.trace.get("check") == "eval_threshold" and "error" not in result.trace
    if not ran or status == RequirementStatus.WAIVED:
        # Out of scope, waived, or the check could not run: that holds for every metric.
        return _Judged(status=status, message=message)
    return _Judged(requirement=requirement)


def _metric_cells(facts: SystemFacts, judged: _Judged, now: datetime) -> dict[str, Cell]:
    if judged.requirement is None:
        targets = facts.eval_targets or ((facts.eval_target,) if facts.eval_target else ())
        return {metric_label(t): _cell(judged.status, judged.message) for t in targets}
    return {metric_label(target): _cell(outcome.status, outcome.message)
            for target, outcome in metric_outcomes(facts, judged.requirement.params, now)}


def _budget_cell(facts: SystemFacts, policy: Policy | None, environment: str, evaluation: Evaluation | None,
                 failure: str, now: datetime) -> Cell:
    """The environment's cost requirement when the policy has one; else the same check, for information."""
    requirement = None
    if policy is not None:
        requirement = next((r for r in policy.requirements_for(environment) if r.check == "cost_within_budget"), None)
    if requirement is not None:
        return _cell(*evaluation.outcome_of(requirement.id)) if evaluation is not None \
            else _cell(RequirementStatus.FAILED, failure)
    if facts.cost is None:
        return _cell("", "no budget")
    outcome = REGISTRY["cost_within_budget"].fn(facts, {}, now)
    return _cell(outcome.status, outcome.message)
