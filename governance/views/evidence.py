"""The evidence portfolio: systems × metric requirements and budget."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.models import AISystem, CostBudget, CostRecord
from clearance.policyfile import PolicyError
from clearance.web import paginate
from governance.policy.checks import _metric_outcome
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import evidence_facts_many


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
