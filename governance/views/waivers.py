"""Waiver pages: request, decide, revoke."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from catalog.models import AISystem
from clearance.policyfile import PolicyError
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, run_service
from governance.forms import WaiverRequestForm
from governance.models import Waiver
from governance.permissions import can_request_waiver
from governance.policy.loader import load_readiness_policy
from governance.services.waivers import waiver_decide, waiver_request, waiver_revoke


@login_required
@require_http_methods(["GET", "POST"])
def waiver_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if not can_request_waiver(request.user, system):
        raise PermissionDenied("Only the system's owners and the governance team may request a waiver.")
    try:
        policy = load_readiness_policy()
        choices = [(r.id, f"{r.id} — {r.title}") for r in policy.requirements if r.waivable]
    except PolicyError:
        choices = []
    form = WaiverRequestForm(request.POST or None, choices=choices,
                             initial={"requirement": request.GET.get("requirement", ""),
                                      "valid_until": (timezone.now() + timedelta(days=30)).date()})
    if request.method == "POST" and form.is_valid():
        waiver = run_service(
            request, form,
            lambda: waiver_request(actor=request.user, system=system, requirement=form.cleaned_data["requirement"],
                                   justification=form.cleaned_data["justification"], expires_at=form.expires_at()),
            "Waiver requested; the risk owner has been notified.",
        )
        if waiver is not None:
            return redirect(reverse("system-detail", kwargs={"slug": system.slug}) + "#waivers")
    return render(request, "governance/waiver_form.html", {"system": system, "form": form},
                  status=400 if form.errors else 200)


# The decision and revocation forms are inline on the system page, without a Django form.
WAIVER_LABELS = {"note": "Reason"}


@login_required
@require_POST
def waiver_decide_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    waiver = get_visible_or_404(Waiver.objects.visible_to(request.user).select_related("system"), pk=pk)
    approve = request.POST.get("decision") == "approve"
    run_service(request, None,
                lambda: waiver_decide(actor=request.user, waiver=waiver, approve=approve,
                                      note=request.POST.get("note", "")),
                "Waiver approved." if approve else "Waiver rejected.", labels=WAIVER_LABELS)
    return redirect(reverse("system-detail", kwargs={"slug": waiver.system.slug}) + "#waivers")


@login_required
@require_POST
def waiver_revoke_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    waiver = get_visible_or_404(Waiver.objects.visible_to(request.user).select_related("system"), pk=pk)
    run_service(request, None, lambda: waiver_revoke(actor=request.user, waiver=waiver,
                                                     note=request.POST.get("note", "")), "Waiver revoked.",
                labels=WAIVER_LABELS)
    return redirect(reverse("system-detail", kwargs={"slug": waiver.system.slug}) + "#waivers")
