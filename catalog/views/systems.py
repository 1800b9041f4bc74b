"""Catalog pages: the system list and system settings."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from catalog.choices import LifecycleStage, RiskTier
from catalog.forms.systems import EvaluationTargetForm, SystemSettingsForm
from catalog.models import AISystem
from catalog.permissions import can_edit_system
from catalog.services.systems import system_set_evaluation_target, system_update
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service


@login_required
def system_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = AISystem.objects.visible_to(request.user).select_related("business_owner", "technical_owner", "risk_owner")
    tier, stage, q = request.GET.get("tier", ""), request.GET.get("stage", ""), request.GET.get("q", "").strip()
    if tier in RiskTier.values:
        qs = qs.filter(risk_tier=tier)
    if stage in LifecycleStage.values:
        qs = qs.filter(lifecycle_stage=stage)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q) | Q(purpose__icontains=q))
    owned = request.GET.get("owner") == "me"
    if owned:
        qs = qs.filter(Q(business_owner=request.user) | Q(technical_owner=request.user) | Q(risk_owner=request.user))
    return render(
        request,
        "catalog/system_list.html",
        {"page": paginate(request, qs), "tiers": RiskTier.choices, "stages": LifecycleStage.choices,
         "tier": tier, "stage": stage, "q": q, "owned": owned},
    )


def _editable_system(request: AuthenticatedHttpRequest, slug: str) -> AISystem:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if not can_edit_system(request.user, system):
        raise PermissionDenied("only the system's owners and the governance team can change it")
    return system


@login_required
@require_http_methods(["GET", "POST"])
def system_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _editable_system(request, slug)
    form = SystemSettingsForm(request.POST or None, instance=system, prefix="s")
    target = EvaluationTargetForm(
        request.POST or None,
        prefix="e",
        initial={"primary_metric": system.primary_metric, "metric_threshold": system.metric_threshold,
                 "metric_higher_is_better": system.metric_higher_is_better},
    )
    if request.method == "POST":
        if request.POST.get("step") == "settings" and form.is_valid():
            data = {name: form.cleaned_data[name] for name in form.Meta.fields}
            if run_service(request, form, lambda: system_update(actor=request.user, system=system, **data), "Saved."):
                return redirect("system-detail", slug=system.slug)
        elif request.POST.get("step") == "target" and target.is_valid():
            data = target.cleaned_data
            if run_service(
                request, target,
                lambda: system_set_evaluation_target(
                    actor=request.user, system=system, metric=data["primary_metric"],
                    threshold=data["metric_threshold"], higher_is_better=data["metric_higher_is_better"]),
                "Evaluation target saved.",
            ):
                return redirect("system-detail", slug=system.slug)
    return render(request, "catalog/system_settings.html", {"system": system, "form": form, "target": target})
