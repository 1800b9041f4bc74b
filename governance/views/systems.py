"""The system page with its readiness, and the readiness portfolio."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.choices import ModelCardStatus
from catalog.models import AISystem
from catalog.permissions import can_edit_system
from clearance.policyfile import PolicyError
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate
from governance.choices import DecisionStatus
from governance.models import GateCheck, ReadinessVerdict
from governance.permissions import can_decide_decision_record
from governance.policy.engine import Evaluation
from governance.selectors.readiness import readiness_by_environment, systems_awaiting_recompute
from governance.selectors.reviews import reviews_of_system
from governance.selectors.system_page import system_page_context


@login_required
def system_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(
        AISystem.objects.visible_to(request.user).select_related("business_owner", "technical_owner", "risk_owner"),
        slug=slug,
    )
    policy_error = ""
    policy = None
    evaluations: dict[str, Evaluation] = {}
    try:
        policy, evaluations = readiness_by_environment(system, timezone.now())
    except PolicyError as exc:
        policy_error = exc.message
    editable = can_edit_system(request.user, system)
    page = system_page_context(system, request.user)
    for record in page["decisions"]:
        record.system = system  # the rule reads the system's owners; no query per row
        record.can_decide = (record.status == DecisionStatus.PROPOSED
                             and can_decide_decision_record(request.user, record))
    return render(
        request,
        "governance/system_detail.html",
        {
            "system": system,
            "policy": policy,
            "policy_error": policy_error,
            "evaluations": evaluations,
            "editable": editable,
            "reviews": reviews_of_system(system).select_related("decided_by", "assignee", "system", "request__system").order_by("-opened_at")[:20],
            "evals": system.eval_results.order_by("-observed_at")[:20],
            "gate_checks": GateCheck.objects.filter(system=system).select_related("user").order_by("-checked_at")[:20],
            **page,
            "published_card": system.model_cards.filter(status=ModelCardStatus.PUBLISHED).order_by("-version").first(),
        },
    )


@login_required
def portfolio(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every visible system × environment, from the stored verdicts (a fixed number of queries per
    page), marking systems whose recompute is still pending."""
    systems = AISystem.objects.visible_to(request.user).order_by("name")
    page = paginate(request, systems, per_page=50)
    verdicts = ReadinessVerdict.objects.filter(system__in=[s.pk for s in page.object_list])
    grid: dict[int, dict[str, ReadinessVerdict]] = {}
    environments: list[str] = []
    for verdict in verdicts:
        grid.setdefault(verdict.system_id, {})[verdict.environment] = verdict
        if verdict.environment not in environments:
            environments.append(verdict.environment)
    order = {"production": 0, "staging": 1, "development": 2}
    environments.sort(key=lambda e: (order.get(e, 9), e))
    rows = [(system, [grid.get(system.pk, {}).get(env) for env in environments]) for system in page.object_list]
    recomputing = systems_awaiting_recompute(s.pk for s in page.object_list)
    return render(request, "governance/portfolio.html", {"page": page, "rows": rows, "environments": environments,
                                                         "recomputing": recomputing})
