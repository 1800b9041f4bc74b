"""Risk register pages: a system's risks with heat maps, record/edit a risk, accept a residual risk,
and the portfolio heat map."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from catalog.models import AISystem
from catalog.permissions import can_edit_system
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service
from governance.selectors.facts import risk_facts_many
from risks.forms import AcceptanceForm, RiskForm
from risks.models import Risk, RiskAcceptance, appetite
from risks.permissions import can_accept_risk, can_record_risk
from risks.selectors import heat_map
from risks.services import risk_accept, risk_create, risk_update
from risks.taxonomy import taxonomy


@login_required
def system_risks(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(
        AISystem.objects.visible_to(request.user).select_related("risk_owner"), slug=slug
    )
    risks = Risk.objects.filter(systems=system)
    page = paginate(request, risks.select_related("owner").order_by("review_date", "pk"), per_page=50)
    now = timezone.now()
    facts = {f.id: f for f in risk_facts_many([system.pk], now, [r.pk for r in page.object_list])[system.pk]}
    limit = appetite(system.risk_tier)
    categories = taxonomy().categories
    rows = []
    for risk in page.object_list:
        fact = facts.get(risk.pk)
        above = risk.residual_score > limit
        if not above:
            state = "within appetite"
        elif not risk.treatment:
            state = "above appetite, untreated"
        elif fact is not None and fact.accepted_until is not None:
            state = f"above appetite, accepted by {fact.accepted_by} until {fact.accepted_until:%Y-%m-%d}"
        else:
            state = "above appetite, not accepted"
        category = categories.get(risk.category)
        rows.append(
            {
                "risk": risk,
                "state": state,
                "above": above and not (fact and fact.accepted_until),
                "category": category.label if category else risk.category,
                "overdue": risk.review_date < now.date(),
            }
        )
    return render(
        request,
        "risks/system_risks.html",
        {
            "system": system,
            "page": page,
            "rows": rows,
            "appetite": limit,
            "maps": [heat_map(risks, residual=False), heat_map(risks, residual=True)],
            "can_record": can_record_risk(request.user, [system], False),
            "can_accept": can_accept_risk(request.user, system),
            "acceptances": RiskAcceptance.objects.filter(system=system).select_related("risk", "approved_by")[
                :20
            ],
        },
    )


def _other_systems(request: AuthenticatedHttpRequest, system: AISystem) -> object:
    return AISystem.objects.visible_to(request.user).exclude(pk=system.pk).order_by("name")


@login_required
@require_http_methods(["GET", "POST"])
def risk_create_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if not can_edit_system(request.user, system):
        raise PermissionDenied("Only the system's owners and the governance team may record its risks.")
    form = RiskForm(
        request.POST or None,
        systems=_other_systems(request, system),
        initial={"owner": system.risk_owner_id, "review_date": (timezone.now() + timedelta(days=90)).date()},
    )
    if request.method == "POST" and form.is_valid():
        others = list(form.cleaned_data.get("other_systems") or [])
        risk = run_service(
            request,
            form,
            lambda: risk_create(
                actor=request.user,
                systems=[system, *others],
                data=form.risk_input(),
                portfolio_wide=bool(others),
            ),
            "Risk recorded.",
        )
        if risk is not None:
            return redirect("system-risks", slug=system.slug)
    return render(
        request,
        "risks/risk_form.html",
        {"system": system, "form": form, "risk": None},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def risk_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    risk = get_visible_or_404(Risk.objects.visible_to(request.user), pk=pk)
    systems = list(risk.systems.order_by("name"))
    if not can_record_risk(request.user, systems, risk.portfolio_wide):
        raise PermissionDenied(
            "Only the owners of every linked system and the governance team may change this risk."
        )
    form = RiskForm(request.POST or None, initial=RiskForm.initial_for(risk))
    if request.method == "POST" and form.is_valid():
        done = run_service(
            request,
            form,
            lambda: risk_update(actor=request.user, risk=risk, data=form.risk_input()),
            "Risk saved.",
        )
        if done is not None:
            return redirect("system-risks", slug=systems[0].slug)
    return render(
        request,
        "risks/risk_form.html",
        {"system": systems[0], "form": form, "risk": risk, "systems": systems},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def risk_accept_view(request: AuthenticatedHttpRequest, pk: int, slug: str) -> HttpResponse:
    risk = get_visible_or_404(Risk.objects.visible_to(request.user), pk=pk)
    system = risk.systems.filter(slug=slug).select_related("risk_owner").first()
    if system is None:
        raise Http404("not found")
    if not can_accept_risk(request.user, system):
        raise PermissionDenied("Only the system's risk owner may accept a risk for it.")
    form = AcceptanceForm(
        request.POST or None, initial={"valid_until": (timezone.now() + timedelta(days=90)).date()}
    )
    if request.method == "POST" and form.is_valid():
        done = run_service(
            request,
            form,
            lambda: risk_accept(
                actor=request.user,
                risk=risk,
                system=system,
                rationale=form.cleaned_data["rationale"],
                expires_at=form.expires_at(),
            ),
            "Residual risk accepted.",
        )
        if done is not None:
            return redirect(reverse("system-risks", kwargs={"slug": system.slug}) + "#acceptances")
    return render(
        request,
        "risks/accept_form.html",
        {"system": system, "form": form, "risk": risk, "appetite": appetite(system.risk_tier)},
        status=400 if form.errors else 200,
    )


@login_required
def risk_portfolio(request: AuthenticatedHttpRequest) -> HttpResponse:
    risks = Risk.objects.visible_to(request.user)
    return render(
        request,
        "risks/portfolio.html",
        {
            "maps": [heat_map(risks, residual=False), heat_map(risks, residual=True)],
            "overdue": Risk.objects.filter(
                pk__in=risks.values("pk"), review_date__lt=timezone.now().date()
            ).count(),
        },
    )
