"""Incident register pages: the register (all incidents you see, or one system's), report an incident,
an incident with its timeline and deadline, and the forms that move, classify and record its report."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from catalog.models import AISystem
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service
from risks.choices import (
    INCIDENT_NEEDS_NOTE,
    INCIDENT_TERMINAL,
    INCIDENT_TRANSITIONS,
    IncidentStatus,
    ReportStatus,
)
from risks.forms.incidents import ClassifyForm, IncidentFilterForm, IncidentForm, MoveForm, ReportForm
from risks.models import Incident, Risk
from risks.permissions import can_handle_incident
from risks.selectors.incidents import RegisterFilters, deadline_rule, deadline_words, register, timeline
from risks.services.incidents import LABELS, incident_classify, incident_move, incident_open, incident_report

# The button that offers each move, in words.
MOVE_WORDS: dict[tuple[str, str], str] = {
    (IncidentStatus.TRIAGE, IncidentStatus.INVESTIGATING): "Start investigating",
    (IncidentStatus.TRIAGE, IncidentStatus.CLOSED): "Close (no action needed)",
    (IncidentStatus.INVESTIGATING, IncidentStatus.MITIGATED): "Mark mitigated",
    (IncidentStatus.INVESTIGATING, IncidentStatus.CLOSED): "Close",
    (IncidentStatus.MITIGATED, IncidentStatus.INVESTIGATING): "Back to investigating",
    (IncidentStatus.MITIGATED, IncidentStatus.CLOSED): "Close",
    (IncidentStatus.CLOSED, IncidentStatus.INVESTIGATING): "Reopen",
}


def _register_page(request: AuthenticatedHttpRequest, system: AISystem | None) -> HttpResponse:
    systems = list(AISystem.objects.visible_to(request.user).order_by("name").values_list("slug", "name"))
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = "open"
    if system is not None:
        data["system"] = system.slug
    form = IncidentFilterForm(data, systems=systems)
    now = timezone.now()
    if form.is_valid():
        filters = RegisterFilters(status=form.cleaned_data["status"], system=form.cleaned_data["system"],
                                  severity=form.cleaned_data["severity"], overdue=form.cleaned_data["overdue"] == "yes")
        incidents = register(request.user, filters, now)
    else:
        # A filter that is not one of the offered values lists nothing rather than something wider.
        incidents = Incident.objects.none()
    page = paginate(request, incidents, per_page=50)
    rows = [{"incident": i, "deadline": deadline_words(i, now), "overdue": i.is_overdue(now)}
            for i in page.object_list]
    return render(request, "risks/incident_list.html", {
        "form": form, "page": page, "rows": rows, "system": system,
    }, status=200 if form.is_valid() else 400)


@login_required
def incident_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _register_page(request, None)


@login_required
def system_incidents(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    return _register_page(request, system)


@login_required
@require_http_methods(["GET", "POST"])
def incident_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    systems = AISystem.objects.visible_to(request.user).order_by("name")
    preset = systems.filter(slug=request.GET.get("system", "")).first() if request.GET.get("system") else None
    now = timezone.now().replace(second=0, microsecond=0)
    form = IncidentForm(
        request.POST or None, systems=systems, risks=Risk.objects.visible_to(request.user),
        risk_choices=list(Risk.objects.filter(systems=preset).order_by("title")[:200]) if preset else None,
        initial={"systems": [preset.pk] if preset else [], "detected_at": now, "aware_at": now, "severity": "medium"},
    )
    if request.method == "POST" and form.is_valid():
        incident = run_service(
            request, form,
            lambda: incident_open(actor=request.user, systems=list(form.cleaned_data["systems"]),
                                  data=form.incident_input(), risks=list(form.cleaned_data.get("risks") or [])),
            "Incident reported.",
        )
        if incident is not None:
            return redirect(incident.get_absolute_url())
    return render(request, "risks/incident_form.html", {"form": form, "system": preset},
                  status=400 if form.errors else 200)


@login_required
def incident_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    incident = get_visible_or_404(Incident.objects.visible_to(request.user).select_related("owner", "reported_by"),
                                  pk=pk)
    systems = list(AISystem.objects.visible_to(request.user).filter(incidents=incident).order_by("name"))
    linked = list(incident.systems.select_related("business_owner", "technical_owner", "risk_owner"))
    can_handle = can_handle_incident(request.user, incident, linked)
    now = timezone.now()
    moves = [{"to": to, "label": MOVE_WORDS.get((incident.status, to), IncidentStatus(to).label),
              "needs_note": (incident.status, to) in INCIDENT_NEEDS_NOTE}
             for to in sorted(INCIDENT_TRANSITIONS.get(incident.status, frozenset()))]
    return render(request, "risks/incident_detail.html", {
        "incident": incident,
        "systems": systems,
        "hidden_systems": len(linked) - len(systems),
        "risks": list(Risk.objects.visible_to(request.user).filter(incidents=incident).order_by("title")),
        "events": timeline(incident),
        "deadline": deadline_words(incident, now),
        "rule": deadline_rule(incident),
        "overdue": incident.is_overdue(now),
        "can_handle": can_handle,
        "moves": moves if can_handle else [],
        "classify_form": ClassifyForm(initial={"severity": incident.severity,
                                               "serious_facts": incident.serious_facts,
                                               "aware_at": incident.aware_at})
        if can_handle and incident.status not in INCIDENT_TERMINAL else None,
        "report_form": ReportForm(initial={"sent_at": now.replace(second=0, microsecond=0),
                                           "complete": "1" if incident.report_status == ReportStatus.INITIAL_SENT else "0"})
        if can_handle and incident.report_status in (ReportStatus.DUE, ReportStatus.INITIAL_SENT) else None,
    })


def _handled(request: AuthenticatedHttpRequest, pk: int) -> Incident:
    incident = get_visible_or_404(Incident.objects.visible_to(request.user), pk=pk)
    if not can_handle_incident(request.user, incident, list(incident.systems.all())):
        raise PermissionDenied("Only the incident's handler, the owners of its systems and the governance team "
                               "may change it.")
    return incident


def _form_errors(request: AuthenticatedHttpRequest, form: MoveForm | ClassifyForm | ReportForm) -> None:
    from django.contrib import messages

    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else LABELS.get(name, name)
        for error in errors:
            messages.error(request, f"{label}: {error}")


@login_required
@require_POST
def incident_move_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    incident = _handled(request, pk)
    form = MoveForm(request.POST)
    if form.is_valid():
        to = form.cleaned_data["to"]
        run_service(request, None,
                    lambda: incident_move(actor=request.user, incident=incident, to=to,
                                          note=form.cleaned_data["note"], expected=form.cleaned_data["expected"]),
                    f"{incident.reference}: {IncidentStatus(to).label.lower()}.", labels=LABELS)
    else:
        _form_errors(request, form)
    return redirect(incident.get_absolute_url())


@login_required
@require_POST
def incident_classify_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    incident = _handled(request, pk)
    form = ClassifyForm(request.POST)
    if form.is_valid():
        run_service(request, None,
                    lambda: incident_classify(actor=request.user, incident=incident,
                                              severity=form.cleaned_data["severity"],
                                              serious_facts=list(form.cleaned_data["serious_facts"]),
                                              aware_at=form.cleaned_data["aware_at"]),
                    "Classification saved.", labels=LABELS)
    else:
        _form_errors(request, form)
    return redirect(incident.get_absolute_url())


@login_required
@require_POST
def incident_report_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    incident = _handled(request, pk)
    form = ReportForm(request.POST)
    if form.is_valid():
        run_service(request, None,
                    lambda: incident_report(actor=request.user, incident=incident,
                                            complete=form.cleaned_data["complete"],
                                            sent_at=form.cleaned_data["sent_at"],
                                            reference=form.cleaned_data["reference"]),
                    "Report recorded.", labels=LABELS)
    else:
        _form_errors(request, form)
    return redirect(incident.get_absolute_url() + "#report")
