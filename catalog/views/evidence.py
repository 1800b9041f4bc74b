"""Evidence pages: a system's sources, requirements and budget; a source with its runs; a run with
its progress bar (htmx polls the run row)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.choices import SyncStatus
from catalog.forms.evidence import CostBudgetForm, EvidenceSourceForm, MetricRequirementForm
from catalog.lib.charts import cost_chart, metric_chart
from catalog.models import AISystem, EvidenceSource, MetricRequirement, SyncRun
from catalog.permissions import can_edit_system
from catalog.selectors.evidence import budget_of, cost_by_month, cost_periods, metric_panels, system_sources
from catalog.services.evidence import (
    budget_set,
    metric_requirement_delete,
    metric_requirement_set,
    source_update,
    sync_request,
)
from catalog.services.evidence import source_create as source_create_service
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service


def _system(request: AuthenticatedHttpRequest, slug: str, *, edit: bool = False) -> AISystem:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if edit and not can_edit_system(request.user, system):
        raise PermissionDenied("only the system's owners and the governance team change its evidence settings")
    return system


def _source(request: AuthenticatedHttpRequest, pk: int, *, edit: bool = False) -> EvidenceSource:
    source = get_visible_or_404(EvidenceSource.objects.visible_to(request.user).select_related("system"), pk=pk)
    if edit and not can_edit_system(request.user, source.system):
        raise PermissionDenied("only the system's owners and the governance team change its evidence sources")
    return source


def evidence_context(system: AISystem) -> dict[str, object]:
    """What the system page's evidence panel and the evidence page show (bounded queries)."""
    budget = budget_of(system)
    months = cost_by_month(system)
    return {
        "panels": [(p, metric_chart(p.points, title=p.metric, threshold=p.threshold, higher_is_better=p.higher_is_better))
                   for p in metric_panels(system)],
        "budget": budget,
        "months": months,
        "cost_svg": cost_chart(cost_periods(months, budget), budget=budget.monthly_amount if budget else None),
        "sources": system_sources(system),
    }


@login_required
def system_evidence(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _system(request, slug)
    return render(request, "catalog/evidence/system_evidence.html", {
        "system": system, "editable": can_edit_system(request.user, system),
        "requirements": system.metric_requirements.order_by("metric", "dataset"),
        **evidence_context(system),
    })


@login_required
@require_http_methods(["GET", "POST"])
def source_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _system(request, slug, edit=True)
    form = EvidenceSourceForm(request.POST or None, initial={"kind": request.GET.get("kind", "lm_eval")})
    if request.method == "POST" and form.is_valid():
        source = run_service(request, form, lambda: source_create_service(
            actor=request.user, system=system, kind=form.cleaned_data["kind"], secret=form.cleaned_data["secret"],
            **form.options()), "Evidence source added.")
        if source is not None:
            return redirect(source)
    return render(request, "catalog/evidence/source_form.html", {"system": system, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    source = _source(request, pk, edit=True)
    form = EvidenceSourceForm(request.POST or None, instance=source, editing=True)
    if request.method == "POST" and form.is_valid():
        options = form.options()
        source.refresh_from_db()  # the bound form changed the instance in memory; the service decides
        updated = run_service(request, form, lambda: source_update(
            actor=request.user, source=source, secret=form.cleaned_data["secret"],
            clear_secret=form.cleaned_data.get("clear_secret", False), **options), "Source saved.")
        if updated is not None:
            return redirect(updated)
    return render(request, "catalog/evidence/source_form.html", {"system": source.system, "form": form, "source": source})


@login_required
def source_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    source = _source(request, pk)
    runs = SyncRun.objects.filter(source=source).select_related("requested_by")
    return render(request, "catalog/evidence/source_detail.html", {
        "source": source, "system": source.system, "editable": can_edit_system(request.user, source.system),
        "page": paginate(request, runs, 20),
    })


@login_required
@require_POST
def source_sync(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    source = _source(request, pk, edit=True)
    run, created = sync_request(actor=request.user, source=source)
    if not created:
        # Only a run someone holds a live lease on, or one waiting its turn: a run whose worker
        # died was failed by sync_request and a new one started instead.
        messages.info(request, "A sync of this source is already under way." if run.status == SyncStatus.RUNNING
                      else "A sync of this source is already queued.")
    return redirect(run)


@login_required
def run_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    run = get_visible_or_404(SyncRun.objects.visible_to(request.user).select_related("source__system", "requested_by"), pk=pk)
    return render(request, "catalog/evidence/run_detail.html", {
        "run": run, "source": run.source, "system": run.source.system,
        "editable": can_edit_system(request.user, run.source.system),
    })


@login_required
def run_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The progress fragment htmx polls; it stops polling once the run is over."""
    run = get_visible_or_404(SyncRun.objects.visible_to(request.user).select_related("source__system"), pk=pk)
    response = render(request, "catalog/evidence/run_progress.html", {
        "run": run, "editable": can_edit_system(request.user, run.source.system),
    })
    if run.finished and request.htmx:
        response["HX-Trigger"] = "sync-finished"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def requirements(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _system(request, slug, edit=True)
    form = MetricRequirementForm(request.POST or None, prefix="r", initial={"higher_is_better": True, "require_version_match": True})
    budget = budget_of(system)
    budget_form = CostBudgetForm(request.POST or None, prefix="b", initial={
        "monthly_amount": budget.monthly_amount if budget else None, "currency": budget.currency if budget else "USD"})
    if request.method == "POST" and request.POST.get("step") == "requirement" and form.is_valid():
        if run_service(request, form, lambda: metric_requirement_set(actor=request.user, system=system,
                                                                              **form.cleaned_data),
                       f"Requirement for {form.cleaned_data['metric']} saved."):
            return redirect("metric-requirements", slug=system.slug)
    elif request.method == "POST" and request.POST.get("step") == "budget" and budget_form.is_valid():
        data = budget_form.cleaned_data
        if run_service(request, budget_form, lambda: budget_set(
                actor=request.user, system=system, monthly_amount=data["monthly_amount"], currency=data["currency"]),
                "Budget saved."):
            return redirect("metric-requirements", slug=system.slug)
    if request.method == "POST":
        # Only the submitted form is validated; the other shows unbound.
        if request.POST.get("step") != "requirement":
            form = MetricRequirementForm(prefix="r", initial={"higher_is_better": True, "require_version_match": True})
        if request.POST.get("step") != "budget":
            budget_form = CostBudgetForm(prefix="b", initial={"monthly_amount": budget.monthly_amount if budget else None,
                                                              "currency": budget.currency if budget else "USD"})
    return render(request, "catalog/evidence/requirements.html", {
        "system": system, "form": form, "budget_form": budget_form,
        "requirements": system.metric_requirements.order_by("metric", "dataset"),
    })


@login_required
@require_POST
def requirement_delete(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    system = _system(request, slug, edit=True)
    requirement = get_visible_or_404(MetricRequirement.objects.all(), system=system, pk=pk)
    run_service(request, None, lambda: metric_requirement_delete(actor=request.user, requirement=requirement),
                f"Requirement for {requirement.metric} removed.")
    return redirect("metric-requirements", slug=system.slug)
