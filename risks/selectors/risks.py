"""Reads of the risk register: heat maps (likelihood x impact grids with counts) for one system or the
portfolio, in one aggregate query each whatever the number of risks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet

from risks.models import Risk, scale

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from catalog.selectors.gaps import GapsReport


@dataclass(frozen=True)
class Cell:
    likelihood: int
    impact: int
    count: int
    band: str  # low / medium / high, shown as colour and as text

    @property
    def score(self) -> int:
        return self.likelihood * self.impact


@dataclass(frozen=True)
class HeatMap:
    title: str
    rows: list[list[Cell]]  # highest likelihood first
    impacts: list[int]
    total: int


def band(score: int, top: int) -> str:
    if score * 5 <= top:
        return "low"
    if score * 2 <= top:
        return "medium"
    return "high"


def heat_map(risks: QuerySet[Risk], *, residual: bool) -> HeatMap:
    """Counts per cell of the risks given; after treatment, a risk without residual scores sits at its
    inherent cell (it is not treated yet). One query."""
    likelihood_levels, impact_levels = scale()
    counts: dict[tuple[int, int], int] = {}
    grouped = Risk.objects.filter(pk__in=risks.values("pk")).order_by()
    if residual:
        rows = grouped.values_list("residual_likelihood", "residual_impact", "likelihood", "impact").annotate(
            n=Count("pk")
        )
        for res_l, res_i, lik, imp, n in rows:
            key = (res_l, res_i) if res_l is not None and res_i is not None else (lik, imp)
            counts[key] = counts.get(key, 0) + n
    else:
        for lik, imp, n in grouped.values_list("likelihood", "impact").annotate(n=Count("pk")):
            counts[(lik, imp)] = counts.get((lik, imp), 0) + n
    top = likelihood_levels * impact_levels
    grid = [
        [
            Cell(lik, imp, counts.get((lik, imp), 0), band(lik * imp, top))
            for imp in range(1, impact_levels + 1)
        ]
        for lik in range(likelihood_levels, 0, -1)
    ]
    return HeatMap(
        "After treatment" if residual else "Before treatment",
        grid,
        list(range(1, impact_levels + 1)),
        sum(counts.values()),
    )


def risk_gaps(
    user: User | AnonymousUser, live_systems: QuerySet[Any], today: date, report: GapsReport
) -> None:
    """The register's rows of the ownership-gaps report (registered by ``RisksConfig.ready``): risks
    linked to a live system the user sees that are past their review date or whose owner has left.
    One query, whatever the number of risks."""
    risks = (
        Risk.objects.filter(systems__in=live_systems)
        .filter(Q(review_date__lt=today) | Q(owner__is_active=False))
        .select_related("owner")
        .distinct()
        .order_by("review_date", "pk")
    )
    for risk in risks:
        if risk.review_date < today:
            report.overdue.append(("Risk", risk, risk.review_date, risk.get_absolute_url()))
        if not risk.owner.is_active:
            report.inactive_document_owners.append(("Risk", risk, risk.owner))
