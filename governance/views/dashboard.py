"""The portfolio dashboard: the measures the governance team is judged by, each a number and a
chart per month, with the chart's figures as a table for those who do not read the picture."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.lib.charts import bars_chart, trend_chart
from clearance.web import AuthenticatedHttpRequest
from governance.permissions import can_read_dashboard
from governance.selectors.dashboard import dashboard as measures_of


@login_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not can_read_dashboard(request.user):
        raise PermissionDenied("the dashboard is for the governance team and auditors")
    now = timezone.now()
    cards = []
    for m in measures_of(now):
        share = m.unit == "%"
        chart = None if m.missing else trend_chart(
            m.series, title=m.title, target=m.target, higher_is_better=m.higher_is_better, unit=m.unit,
            ceiling=100.0 if share else None, min_span=10.0 if share else 2.0)
        bars = bars_chart([(label, float(n)) for label, n in m.rows],
                          title="Blocked systems per unmet requirement") if m.rows else None
        cards.append({"m": m, "chart": chart, "bars": bars})
    return render(request, "governance/dashboard.html", {"cards": cards, "now": now})
