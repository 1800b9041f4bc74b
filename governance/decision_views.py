"""Decision record pages: the record with its supersession chain and snapshot, and editing a proposal."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clearance.audit import history_for
from clearance.web import get_visible_or_404, run_service
from governance import services
from governance.choices import DecisionStatus
from governance.forms import DecisionRecordForm
from governance.models import DecisionRecord
from governance.search import search


def _visible_record(request: HttpRequest, pk: int) -> DecisionRecord:
    return get_visible_or_404(
        DecisionRecord.objects.visible_to(request.user).select_related("system", "created_by", "request", "supersedes")
        .prefetch_related("deciders"),
        pk=pk,
    )


@login_required
def decision_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = _visible_record(request, pk)
    editable = record.system.editable_by(request.user)
    return render(request, "governance/decision_detail.html", {
        "record": record,
        "system": record.system,
        "chain": services.decision_chain(record),
        "competing": record.superseded_by.filter(status=DecisionStatus.PROPOSED),
        "editable": editable,
        "can_decide": editable and record.status == DecisionStatus.PROPOSED and record.created_by_id != request.user.pk,
        "history": history_for(record).order_by("seq"),
    })


@login_required
@require_http_methods(["GET", "POST"])
def decision_edit(request: HttpRequest, pk: int) -> HttpResponse:
    record = _visible_record(request, pk)
    if not record.system.editable_by(request.user):
        raise PermissionDenied("only the system's owners and the governance team edit its records")
    if record.status != DecisionStatus.PROPOSED:
        raise PermissionDenied(
            f"{record.reference} is {record.get_status_display().lower()} and cannot be edited; "
            "propose a new record that supersedes it"
        )
    form = DecisionRecordForm(request.POST or None, initial={
        name: getattr(record, name) for name in services.DECISION_TEXT_FIELDS})
    if request.method == "POST" and form.is_valid():
        saved = run_service(request, form,
                            lambda: services.decision_record_update(actor=request.user, record=record, **form.cleaned_data),
                            "Decision record saved.")
        if saved is not None:
            return redirect("decision-detail", pk=record.pk)
    return render(request, "governance/decision_form.html", {"system": record.system, "form": form, "record": record})


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    results = search(request.user, q) if q else {}
    return render(request, "governance/search.html", {
        "q": q, "results": results, "total": sum(len(hits) for hits in results.values()),
        "engine": "full-text" if connection.vendor == "postgresql" else "substring match",
    })
