"""Evidence facts for many systems at once (three queries whatever the number of systems) and the
evidence portfolio: systems × metric requirements and budget, met / stale / failing / missing, by
the same check the gate runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Max, OuterRef, Q, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.models import AISystem, CostBudget, CostRecord, EvalResult, MetricRequirement
from clearance.policyfile import PolicyError
from clearance.web import paginate
from governance.policy.checks import _metric_outcome
from governance.policy.facts import CostFact, EvalFact, EvalTarget
from governance.policy.loader import load_readiness_policy

Facts = tuple[tuple[EvalTarget, ...], tuple[EvalFact | None, ...]]


def _targets(system: AISystem, requirements: list[MetricRequirement]) -> list[EvalTarget]:
    """The system's primary metric first (refined by its requirement row when there is one), then the rest."""
    targets: list[EvalTarget] = []
    if system.primary_metric and system.metric_threshold is not None and not any(
        r.metric == system.primary_metric for r in requirements
    ):
        targets.append(EvalTarget(system.primary_metric, system.metric_threshold, system.metric_higher_is_better))
    for r in sorted(requirements, key=lambda r: (r.metric != system.primary_metric, r.metric, r.dataset)):
        targets.append(EvalTarget(r.metric, r.threshold, r.higher_is_better, r.dataset, r.max_age_days,
                                  r.baseline_value, r.max_regression, r.require_version_match))
    return targets


def _matches(target: EvalTarget, system: AISystem, dataset: str, model_version: str) -> bool:
    if target.dataset and dataset != target.dataset:
        return False
    # Evidence counts only for the model version being deployed.
    return not (system.model_version and target.require_version_match and model_version != system.model_version)


def evidence_facts_many(systems: Iterable[AISystem]) -> dict[int, Facts]:
    """Each system's metric requirements and the latest matching result of each (three queries)."""
    by_id = {s.pk: s for s in systems}
    requirements: dict[int, list[MetricRequirement]] = {pk: [] for pk in by_id}
    for r in MetricRequirement.objects.filter(system__in=list(by_id)):
        requirements[r.system_id].append(r)
    targets = {pk: _targets(by_id[pk], requirements[pk]) for pk in by_id}
    pairs = {(pk, t.metric) for pk, ts in targets.items() for t in ts}
    latest: dict[int, list[EvalFact | None]] = {pk: [None] * len(ts) for pk, ts in targets.items()}
    if pairs:
        groups = list(
            EvalResult.objects.filter(reduce(or_, (Q(system_id=pk, metric=m) for pk, m in sorted(pairs))))
            .values("system_id", "metric", "dataset", "model_version")
            .annotate(latest=Max("observed_at"))
        )
        wanted: dict[tuple[int, int], datetime] = {}
        for pk, ts in targets.items():
            for i, t in enumerate(ts):
                moments = [g["latest"] for g in groups if g["system_id"] == pk and g["metric"] == t.metric
                           and _matches(t, by_id[pk], g["dataset"], g["model_version"])]
                if moments:
                    wanted[(pk, i)] = max(moments)
        if wanted:
            rows = list(EvalResult.objects.filter(reduce(or_, (
                Q(system_id=pk, metric=targets[pk][i].metric, observed_at=moment) for (pk, i), moment in wanted.items()
            ))).order_by("-pk"))
            for (pk, i), moment in wanted.items():
                t = targets[pk][i]
                row = next(r for r in rows if r.system_id == pk and r.metric == t.metric and r.observed_at == moment
                           and _matches(t, by_id[pk], r.dataset, r.model_version))
                latest[pk][i] = EvalFact(row.metric, row.value, row.observed_at, row.model_version, row.dataset,
                                         row.source, row.source_run_id)
    return {pk: (tuple(targets[pk]), tuple(latest[pk])) for pk in by_id}


def cost_fact(system: AISystem, now: datetime | None = None) -> CostFact | None:
    """The monthly budget and this month's effective cost in its currency (one query: the gate's path)."""
    month_start = (now or timezone.now()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = (
        CostRecord.objects.filter(system=OuterRef("system"), currency=OuterRef("currency"), period_start__gte=month_start)
        .values("system")
        .annotate(total=Sum("effective_cost"))
        .values("total")
    )
    budget = CostBudget.objects.filter(system=system).annotate(spent=Subquery(spent)).first()
    if budget is None:
        return None
    return CostFact(budget.monthly_amount, budget.currency, Decimal(budget.spent or 0), month_start)


def _policy_max_age() -> tuple[int | None, str]:
    try:
        policy = load_readiness_policy()
    except PolicyError as exc:
        return None, exc.message
    ages = [r.params.get("max_age_days") for r in policy.requirements if r.check == "eval_threshold"]
    ages = [a for a in ages if isinstance(a, int)]
    return (min(ages) if ages else None), ""


@login_required
def evidence_portfolio(request: HttpRequest) -> HttpResponse:
    """Systems × requirements: each metric requirement and the month's budget, met/stale/failing/missing."""
    now = timezone.now()
    page = paginate(request, AISystem.objects.visible_to(request.user).order_by("name"), per_page=25)
    systems = list(page.object_list)
    facts = evidence_facts_many(systems)
    max_age, policy_error = _policy_max_age()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spend: dict[tuple[int, str], Decimal] = {
        (row["system_id"], row["currency"]): row["total"]
        for row in CostRecord.objects.filter(system__in=systems, period_start__gte=month_start)
        .values("system_id", "currency").annotate(total=Sum("effective_cost"))
    }
    budgets = {b.system_id: b for b in CostBudget.objects.filter(system__in=systems)}
    columns: list[str] = []
    rows: list[tuple[AISystem, dict[str, Any], dict[str, Any]]] = []
    for system in systems:
        targets, latest = facts[system.pk]
        cells: dict[str, Any] = {}
        for target, result in zip(targets, latest, strict=True):
            label = target.metric + (f" on {target.dataset}" if target.dataset else "")
            if label not in columns:
                columns.append(label)
            if max_age is None:
                cells[label] = {"status": "failed", "message": f"policy failed to load: {policy_error}"}
            else:
                outcome = _metric_outcome(target, result, system.model_version, max_age, now)
                cells[label] = {"status": outcome.status, "message": outcome.message}
        budget = budgets.get(system.pk)
        cost_cell: dict[str, Any] = {"status": "", "message": "no budget"}
        if budget is not None:
            used = spend.get((system.pk, budget.currency), Decimal(0))
            over = used > budget.monthly_amount
            cost_cell = {"status": "failed" if over else "met",
                         "message": f"{used:.2f} of {budget.monthly_amount} {budget.currency} this month"}
        rows.append((system, cells, cost_cell))
    grid = [(system, [cells.get(c) for c in columns], cost) for system, cells, cost in rows]
    totals = {s: sum(1 for _, cells, _ in rows for c in cells.values() if c["status"] == s)
              for s in ("met", "stale", "failed", "missing")}
    return render(request, "governance/evidence_portfolio.html", {
        "page": page, "columns": columns, "grid": grid, "totals": totals, "policy_error": policy_error,
    })
