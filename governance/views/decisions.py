"""Decision record pages: propose, detail, edit, decide."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.models import AISystem
from clearance.audit import history_for
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, run_service
from governance.choices import DecisionStatus
from governance.forms import DecisionProposeForm, DecisionRecordForm
from governance.models import DecisionRecord
from governance.permissions import can_decide_decision_record, can_record_decisions
from governance.selectors.decisions import decision_chain
from governance.services.decisions import (
    DECISION_TEXT_FIELDS,
    decision_record_decide,
    decision_record_propose,
    decision_record_update,
)


@login_required
@require_http_methods(["GET", "POST"])
def decision_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if not can_record_decisions(request.user, system):
        raise PermissionDenied("only the system's owners and the governance team record its decisions")
    form = DecisionProposeForm(request.POST or None, system=system,
                               initial={"supersedes": request.GET.get("supersedes")})
    if request.method == "POST" and form.is_valid():
        record = run_service(
            request, form,
            lambda: decision_record_propose(actor=request.user, system=system, **form.cleaned_data),
            "Decision record proposed.",
        )
        if record is not None:
            return redirect("decision-detail", pk=record.pk)
    return render(request, "governance/decision_form.html", {"system": system, "form": form})


@login_required
@require_POST
def decision_decide(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    record = get_visible_or_404(DecisionRecord.objects.visible_to(request.user).select_related("system"), pk=pk)
    to = request.POST.get("to", "")
    if to not in (DecisionStatus.ACCEPTED, DecisionStatus.REJECTED):
        messages.error(request, "Status: choose accept or reject.")
    else:
        run_service(request, None, lambda: decision_record_decide(actor=request.user, record=record, to=to),
                    f"Decision record {to}.")
    return redirect("decision-detail", pk=record.pk)


def _visible_record(request: AuthenticatedHttpRequest, pk: int) -> DecisionRecord:
    return get_visible_or_404(
        DecisionRecord.objects.visible_to(request.user).select_related("system", "created_by", "request", "supersedes")
        .prefetch_related("deciders"),
        pk=pk,
    )


@login_required
def decision_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    record = _visible_record(request, pk)
    editable = can_record_decisions(request.user, record.system)
    return render(request, "governance/decision_detail.html", {
        "record": record,
        "system": record.system,
        "chain": decision_chain(record),
        "competing": record.superseded_by.filter(status=DecisionStatus.PROPOSED),
        "editable": editable,
        "can_decide": record.status == DecisionStatus.PROPOSED and can_decide_decision_record(request.user, record),
        "history": history_for(record).order_by("seq"),
    })


@login_required
@require_http_methods(["GET", "POST"])
def decision_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    record = _visible_record(request, pk)
    if not can_record_decisions(request.user, record.system):
        raise PermissionDenied("only the system's owners and the governance team edit its records")
    if record.status != DecisionStatus.PROPOSED:
        raise PermissionDenied(
            f"{record.reference} is {record.get_status_display().lower()} and cannot be edited; "
            "propose a new record that supersedes it"
        )
    form = DecisionRecordForm(request.POST or None, initial={
        name: getattr(record, name) for name in DECISION_TEXT_FIELDS})
    if request.method == "POST" and form.is_valid():
        saved = run_service(request, form,
                            lambda: decision_record_update(actor=request.user, record=record, **form.cleaned_data),
                            "Decision record saved.")
        if saved is not None:
            return redirect("decision-detail", pk=record.pk)
    return render(request, "governance/decision_form.html", {"system": record.system, "form": form, "record": record})
