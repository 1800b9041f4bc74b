"""The evidence portfolio: systems × readiness requirements as the policy engine judges them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.models import AISystem
from clearance.web import paginate
from governance.selectors.evidence import evidence_portfolio as build_portfolio
from governance.selectors.facts import for_facts


@login_required
def evidence_portfolio(request: HttpRequest) -> HttpResponse:
    """Every visible system × the requirements of one environment, with the engine's status and reason
    (the gate's answer), and the evaluation requirement by metric next to the month's budget. The
    number of queries does not grow with the number of systems (tests assert it)."""
    page = paginate(request, for_facts(AISystem.objects.visible_to(request.user)).order_by("name"), per_page=25)
    portfolio = build_portfolio(list(page.object_list), request.GET.get("environment", ""), timezone.now())
    return render(request, "governance/evidence_portfolio.html", {"page": page, **vars(portfolio)})
