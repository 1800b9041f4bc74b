"""Catalog pages: the system list, system settings and model cards."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog import services
from catalog.choices import LifecycleStage, ModelCardStatus, RiskTier
from catalog.forms import EvaluationTargetForm, ModelCardForm, SystemSettingsForm
from catalog.models import AISystem, ModelCard
from clearance.web import get_visible_or_404, paginate, run_service


@login_required
def system_list(request: HttpRequest) -> HttpResponse:
    qs = AISystem.objects.visible_to(request.user).select_related("business_owner", "technical_owner", "risk_owner")
    tier, stage, q = request.GET.get("tier", ""), request.GET.get("stage", ""), request.GET.get("q", "").strip()
    if tier in RiskTier.values:
        qs = qs.filter(risk_tier=tier)
    if stage in LifecycleStage.values:
        qs = qs.filter(lifecycle_stage=stage)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q) | Q(purpose__icontains=q))
    return render(
        request,
        "catalog/system_list.html",
        {"page": paginate(request, qs), "tiers": RiskTier.choices, "stages": LifecycleStage.choices,
         "tier": tier, "stage": stage, "q": q},
    )


def _editable_system(request: HttpRequest, slug: str) -> AISystem:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if not system.editable_by(request.user):
        raise PermissionDenied("only the system's owners and the governance team can change it")
    return system


@login_required
@require_http_methods(["GET", "POST"])
def system_settings(request: HttpRequest, slug: str) -> HttpResponse:
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
            if run_service(request, form, lambda: services.system_update(actor=request.user, system=system, **data), "Saved."):
                return redirect("system-detail", slug=system.slug)
        elif request.POST.get("step") == "target" and target.is_valid():
            data = target.cleaned_data
            if run_service(
                request, target,
                lambda: services.system_set_evaluation_target(
                    actor=request.user, system=system, metric=data["primary_metric"],
                    threshold=data["metric_threshold"], higher_is_better=data["metric_higher_is_better"]),
                "Evaluation target saved.",
            ):
                return redirect("system-detail", slug=system.slug)
    return render(request, "catalog/system_settings.html", {"system": system, "form": form, "target": target})


@login_required
@require_http_methods(["GET", "POST"])
def model_card_edit(request: HttpRequest, slug: str) -> HttpResponse:
    system = _editable_system(request, slug)
    draft = ModelCard.objects.filter(system=system, status=ModelCardStatus.DRAFT).first()
    last = draft or ModelCard.objects.filter(system=system).order_by("-version").first()
    form = ModelCardForm(request.POST or None, instance=None, initial={
        name: getattr(last, name) for name in ModelCardForm.Meta.fields} if last else None)
    if request.method == "POST" and form.is_valid():
        sections = {name: form.cleaned_data[name] for name in ModelCardForm.Meta.fields}
        card = run_service(request, form, lambda: services.model_card_draft(actor=request.user, system=system, **sections),
                           "Draft saved.")
        if card is not None and "publish" in request.POST:
            card = run_service(request, form, lambda: services.model_card_publish(actor=request.user, card=card),
                               f"Model card v{card.version} published.")
        if card is not None:
            return redirect("system-detail", slug=system.slug)
    return render(request, "catalog/model_card_form.html", {"system": system, "form": form, "draft": draft})


@login_required
def model_card_detail(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    card = get_visible_or_404(ModelCard.objects.select_related("published_by", "created_by"), system=system, version=version)
    return render(request, "catalog/model_card_detail.html", {"system": system, "card": card})


@login_required
@require_POST
def model_card_publish(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    system = _editable_system(request, slug)
    card = get_visible_or_404(ModelCard.objects.all(), system=system, version=version)
    run_service(request, None, lambda: services.model_card_publish(actor=request.user, card=card),
                f"Model card v{card.version} published.")
    return redirect("system-detail", slug=system.slug)
