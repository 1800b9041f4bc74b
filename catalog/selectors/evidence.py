"""Reads of the evidence pipeline that are more than one queryset call: chart series, cost per
month against the budget, the sources of a system with their last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import TruncMonth

from catalog.lib.charts import Period, Point
from catalog.models import (
    AISystem,
    CostBudget,
    CostRecord,
    EvalResult,
    EvidenceSource,
    MetricRequirement,
    SyncRun,
)

SERIES_LIMIT = 200


@dataclass(frozen=True)
class MetricPanel:
    metric: str
    dataset: str
    threshold: float | None
    higher_is_better: bool
    points: list[Point]


def metric_panels(system: AISystem) -> list[MetricPanel]:
    """One series per metric requirement (primary metric first); one query per requirement."""
    wanted: list[tuple[str, str, float | None, bool]] = []
    requirements = list(MetricRequirement.objects.filter(system=system).order_by("metric", "dataset"))
    if system.primary_metric and not any(r.metric == system.primary_metric for r in requirements):
        wanted.append((system.primary_metric, "", system.metric_threshold, system.metric_higher_is_better))
    requirements.sort(key=lambda r: r.metric != system.primary_metric)
    wanted += [(r.metric, r.dataset, r.threshold, r.higher_is_better) for r in requirements]
    panels = []
    for metric, dataset, threshold, higher in wanted:
        rows = EvalResult.objects.filter(system=system, metric=metric)
        if dataset:
            rows = rows.filter(dataset=dataset)
        latest = list(rows.order_by("-observed_at", "-pk").values("observed_at", "value", "model_version", "step")[:SERIES_LIMIT])
        points = [Point(r["observed_at"], r["value"], f"model {r['model_version'] or '?'}" + (f", step {r['step']}" if r["step"] else ""))
                  for r in reversed(latest)]
        panels.append(MetricPanel(metric, dataset, threshold, higher, points))
    return panels


@dataclass(frozen=True)
class CostMonth:
    month: datetime
    currency: str
    effective: Decimal
    billed: Decimal
    requests: int | None
    rows: int

    @property
    def per_thousand_requests(self) -> Decimal | None:
        if not self.requests:
            return None
        return (self.effective * 1000 / self.requests).quantize(Decimal("0.0001"))


def cost_by_month(system: AISystem, months: int = 12) -> list[CostMonth]:
    """Effective and billed cost per calendar month (UTC) and currency, oldest first (one query)."""
    rows = (
        CostRecord.objects.filter(system=system)
        .annotate(month=TruncMonth("period_start"))
        .values("month", "currency")
        .annotate(effective=Sum("effective_cost"), billed=Sum("billed_cost"), requests=Sum("request_count"),
                  rows=Count("pk"))
        .order_by("-month", "currency")[: months * 3]
    )
    result = [CostMonth(r["month"], r["currency"], Decimal(r["effective"] or 0), Decimal(r["billed"] or 0),
                        r["requests"], r["rows"]) for r in rows]
    return sorted(result, key=lambda c: (c.month, c.currency))[-months:]


def cost_periods(months: list[CostMonth], budget: CostBudget | None) -> list[Period]:
    currency = budget.currency if budget else (months[-1].currency if months else "USD")
    return [Period(f"{m.month:%b %Y}", m.effective, m.currency) for m in months if m.currency == currency]


def budget_of(system: AISystem) -> CostBudget | None:
    return CostBudget.objects.filter(system=system).first()


def sources_with_last_run(queryset: Any) -> Any:
    """Sources annotated with their last run's id, status, finish time and error (one query)."""
    last = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-created_at", "-pk")
    return queryset.annotate(
        last_run_id=Subquery(last.values("pk")[:1]),
        last_status=Subquery(last.values("status")[:1]),
        last_finished=Subquery(last.values("finished_at")[:1]),
        last_error=Subquery(last.values("error")[:1]),
        last_success=Subquery(last.filter(status="succeeded").values("finished_at")[:1]),
    )


def system_sources(system: AISystem) -> Any:
    return sources_with_last_run(EvidenceSource.objects.filter(system=system)).order_by("name")
