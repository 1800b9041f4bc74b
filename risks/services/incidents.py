"""Writes to the incident register. Each one checks its input (errors name the field by its label),
locks the incident, checks the move against the allowed transitions, records an audit event in the same
transaction, asks for the readiness of the linked systems to be recomputed (the ``no_open_incidents``
check reads the register) and notifies the people who must act."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import InvalidTransition, NotAllowed, labelled_error
from clearance.notifications import notify
from clearance.people import name_of
from clearance.roles import Role
from clearance.untrusted import text_problem
from integrations.choices import EventKind
from integrations.events import emit
from risks.choices import (
    INCIDENT_NEEDS_NOTE,
    INCIDENT_TERMINAL,
    INCIDENT_TRANSITIONS,
    REPORT_TRANSITIONS,
    HarmCategory,
    IncidentSeverity,
    IncidentStatus,
    ReportStatus,
)
from risks.models import Incident, Risk
from risks.permissions import can_handle_incident, can_report_incident
from risks.reporting import report_due, rules

log = logging.getLogger(__name__)

LABELS = {
    "systems": "Systems",
    "risks": "Linked risks",
    "title": "Title",
    "description": "What happened",
    "model_version": "Model version",
    "severity": "Severity",
    "harm_categories": "Harm",
    "people_affected": "People affected",
    "started_at": "Started",
    "detected_at": "Detected",
    "aware_at": "Aware since",
    "serious_facts": "Serious incident (EU AI Act)",
    "owner": "Handled by",
    "note": "Note",
    "sent_at": "Sent",
    "reference": "Authority's reference",
}
# A clock a little ahead of the server's is not an error; a time well in the future is.
CLOCK_SKEW = timedelta(minutes=5)
MAX_PEOPLE = 1_000_000_000


@dataclass
class IncidentInput:
    """What a person reports about an incident (the form and the API post all of it)."""

    title: str
    description: str
    severity: str
    detected_at: datetime | None
    aware_at: datetime | None
    started_at: datetime | None = None
    harm_categories: list[str] = field(default_factory=list)
    people_affected: int | None = None
    serious_facts: list[str] = field(default_factory=list)
    model_version: str = ""
    owner: User | None = None


def one_line(value: str) -> str:
    """A title from a form or an API: line breaks (CRLF or LF) become spaces."""
    return " ".join(value.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()


def text_block(value: str) -> str:
    """Browsers send textareas with CRLF line breaks: stored with LF, so lengths and diffs agree."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


class _Problems(dict[str, list[str]]):
    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(f"{LABELS[name]}: {message}")


def _check_facts(problems: _Problems, facts: Any) -> None:
    known = rules().by_id
    if not isinstance(facts, list) or any(not isinstance(f, str) or f not in known for f in facts):
        problems.add("serious_facts", f"choose among {', '.join(known)}")
    elif facts and not rules().is_serious(facts):
        problems.add("serious_facts", "also tick the harm it caused: on its own a widespread infringement does "
                                      "not make an incident serious")


def _problems(data: IncidentInput, now: datetime) -> _Problems:
    problems = _Problems()
    for name in ("title", "description", "model_version"):
        problem = text_problem(getattr(data, name))
        if problem:
            problems.add(name, problem)
    title = one_line(data.title)
    if not title:
        problems.add("title", "this field is required")
    elif len(title) > 200:
        problems.add("title", "at most 200 characters")
    if len(text_block(data.description)) < 10:
        problems.add("description", "say in at least 10 characters what happened")
    elif len(data.description) > 20_000:
        problems.add("description", "at most 20,000 characters")
    if len(data.model_version) > 100:
        problems.add("model_version", "at most 100 characters")
    if data.severity not in IncidentSeverity.values:
        problems.add("severity", f"choose one of {', '.join(str(s.label).lower() for s in IncidentSeverity)}")
    if not isinstance(data.harm_categories, list) or any(h not in HarmCategory.values for h in data.harm_categories):
        problems.add("harm_categories", f"choose among {', '.join(HarmCategory.values)}")
    people = data.people_affected
    if people is not None and (isinstance(people, bool) or not isinstance(people, int) or not 0 <= people <= MAX_PEOPLE):
        problems.add("people_affected", "a whole number of at least 0")
    _check_facts(problems, data.serious_facts)
    for name in ("detected_at", "aware_at", "started_at"):
        moment = getattr(data, name)
        if moment is None:
            if name != "started_at":
                problems.add(name, "this field is required")
        elif timezone.is_naive(moment):
            problems.add(name, "give a time zone")
        elif moment > now + CLOCK_SKEW:
            problems.add(name, "cannot be in the future")
    if "detected_at" not in problems and "aware_at" not in problems and data.detected_at and data.aware_at:
        if data.aware_at < data.detected_at:
            problems.add("aware_at", f"cannot be before {LABELS['detected_at']}")
    if "started_at" not in problems and "detected_at" not in problems and data.started_at and data.detected_at:
        if data.started_at > data.detected_at:
            problems.add("started_at", f"cannot be after {LABELS['detected_at']}")
    if data.owner is not None and not data.owner.is_active:
        problems.add("owner", "name an active user")
    return problems


def _classify(incident: Incident) -> None:
    """Serious or not, the deadline that applies and when the report is due, from the facts ticked."""
    deadline = rules().applicable(list(incident.serious_facts))
    incident.is_serious = deadline is not None
    incident.report_deadline = deadline.id if deadline else ""
    incident.report_due_at = report_due(incident.aware_at, deadline.days) if deadline else None
    sent = incident.report_status in (ReportStatus.INITIAL_SENT, ReportStatus.COMPLETE_SENT)
    if not sent:
        incident.report_status = ReportStatus.DUE if deadline else ReportStatus.NOT_REQUIRED


def _deadline_words(incident: Incident) -> str:
    if not incident.is_serious or incident.report_due_at is None:
        return "Not a serious incident under the EU AI Act."
    rule = rules().deadline(incident.report_deadline)
    zone = timezone.get_current_timezone()
    due = incident.report_due_at.astimezone(zone)
    return (f"Serious incident under the EU AI Act: the report to the market surveillance authority is due "
            f"before {due:%Y-%m-%d %H:%M} {due.tzname()} ({rule.ref if rule else 'Art. 73'}).")


def _audit_data(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "harm_categories": incident.harm_categories,
        "people_affected": incident.people_affected,
        "serious_facts": incident.serious_facts,
        "is_serious": incident.is_serious,
        "report_deadline": incident.report_deadline,
        "report_due_at": incident.report_due_at,
        "report_status": incident.report_status,
        "started_at": incident.started_at,
        "detected_at": incident.detected_at,
        "aware_at": incident.aware_at,
        "model_version": incident.model_version,
        "owner": incident.owner.get_username() if incident.owner else None,
    }


def _people_to_tell(incident: Incident, systems: Iterable[AISystem]) -> list[User | None]:
    leads = list(get_user_model().objects.filter(groups__name=Role.GOVERNANCE_LEAD, is_active=True))
    owners = [u for s in systems for u in (s.business_owner, s.technical_owner, s.risk_owner)]
    return [incident.owner, *owners, *leads]


def _default_owner(systems: Sequence[AISystem]) -> User | None:
    for system in systems:
        for user in (system.technical_owner, system.risk_owner, system.business_owner):
            if user is not None and user.is_active:
                return user
    return None


def incident_open(*, actor: User, systems: Sequence[AISystem], data: IncidentInput,
                  risks: Sequence[Risk] = ()) -> Incident:
    """Report an incident on one or more systems (optionally linked to risks of those systems). It starts
    in triage, handled by ``data.owner`` or else the first system's technical owner."""
    systems = list(systems)
    now = timezone.now()
    problems = _problems(data, now)
    if not systems:
        problems.add("systems", "name at least one system")
    elif not can_report_incident(actor, systems):
        raise NotAllowed("you may report incidents only on systems you can see")
    if problems:
        raise labelled_error(problems)
    if risks:
        linked = set(Risk.systems.through.objects.filter(risk_id__in=[r.pk for r in risks],
                                                         aisystem_id__in=[s.pk for s in systems])
                     .values_list("risk_id", flat=True))
        strangers = [r for r in risks if r.pk not in linked]
        if strangers:
            problems.add("risks", "link only risks of the incident's systems")
            raise labelled_error(problems)
    assert data.detected_at is not None and data.aware_at is not None
    with transaction.atomic():
        incident = Incident(
            title=one_line(data.title), description=text_block(data.description),
            model_version=data.model_version.strip(), severity=data.severity,
            harm_categories=sorted(set(data.harm_categories)), people_affected=data.people_affected,
            started_at=data.started_at, detected_at=data.detected_at, aware_at=data.aware_at,
            serious_facts=sorted(set(data.serious_facts)), owner=data.owner or _default_owner(systems),
            reported_by=actor, created_at=now, updated_at=now, status=IncidentStatus.TRIAGE,
        )
        _classify(incident)
        incident.save()
        incident.systems.set(systems)
        if risks:
            incident.risks.set(risks)
        audit_record(actor=actor, action="incident.opened", obj=incident,
                     data=_audit_data(incident) | {"systems": sorted(s.slug for s in systems),
                                                   "risks": sorted(r.pk for r in risks)})
        for system in systems:
            readiness_changed(system=system, reason=f"incident {incident.reference} opened")
        notify(
            recipients=_people_to_tell(incident, systems),
            subject=f"Incident {incident.reference} reported on {', '.join(s.name for s in systems)}",
            body=(f"{name_of(actor)} reported {incident.reference}: {incident.title}. Severity: "
                  f"{IncidentSeverity(incident.severity).label}. Handled by {name_of(incident.owner)}. "
                  f"{_deadline_words(incident)}"),
            url=incident.get_absolute_url(),
        )
        # In the same transaction, beside the audit record: the webhooks hear of an incident exactly
        # when it exists; sending happens later, from the outbox.
        emit(kind=EventKind.INCIDENT_OPENED, subject=incident, actor=actor,
             summary=f"{incident.reference} {incident.title} ({IncidentSeverity(incident.severity).label})",
             payload={"reference": incident.reference, "severity": incident.severity,
                      "serious": incident.is_serious, "systems": sorted(s.slug for s in systems),
                      "report_due": incident.report_due_at})
    return incident


def _lock(incident: Incident, actor: User) -> tuple[Incident, list[AISystem]]:
    # Only the incident row is locked: its handler may be null, and PostgreSQL locks no outer-joined row.
    locked = Incident.objects.select_for_update(of=("self",)).select_related("owner").get(pk=incident.pk)
    systems = list(locked.systems.select_related("business_owner", "technical_owner", "risk_owner"))
    if not can_handle_incident(actor, locked, systems):
        raise NotAllowed("only the incident's handler, the owners of its systems and the governance team may "
                         "change it")
    return locked, systems


def incident_move(*, actor: User, incident: Incident, to: str, note: str = "",
                  expected: str | None = None) -> Incident:
    """Move an incident along triage → investigating → mitigated → closed. ``expected`` is the state the
    actor saw: when someone moved the incident meanwhile, the move is refused with a conflict. Closing
    needs a note on how it ended, reopening one on why."""
    note = text_block(note)
    with transaction.atomic():
        locked, systems = _lock(incident, actor)
        current = locked.status
        if expected is not None and current != expected:
            raise InvalidTransition(f"{locked.reference} is already {IncidentStatus(current).label.lower()}: "
                                    "someone changed it first; reload the page to see it")
        if to not in INCIDENT_TRANSITIONS.get(current, frozenset()):
            label = IncidentStatus(to).label.lower() if to in IncidentStatus.values else repr(to)
            raise InvalidTransition(f"{locked.reference} is {IncidentStatus(current).label.lower()} and cannot "
                                    f"move to {label}")
        problems = _Problems()
        if text_problem(note):
            problems.add("note", str(text_problem(note)))
        elif (current, to) in INCIDENT_NEEDS_NOTE and len(note) < 10:
            why = "why it is reopened" if current in INCIDENT_TERMINAL else "how it ended"
            problems.add("note", f"say in at least 10 characters {why}")
        elif len(note) > 5000:
            problems.add("note", "at most 5,000 characters")
        if problems:
            raise labelled_error(problems)
        now = timezone.now()
        locked.status, locked.updated_at = to, now
        if to in INCIDENT_TERMINAL:
            locked.closed_at, locked.resolution = now, note
        elif current in INCIDENT_TERMINAL:
            locked.closed_at = None
        locked.save(update_fields=["status", "updated_at", "closed_at", "resolution"])
        audit_record(actor=actor, action="incident.reopened" if current in INCIDENT_TERMINAL else "incident.moved",
                     obj=locked, data={"from": current, "to": to, "note": note})
        for system in systems:
            readiness_changed(system=system, reason=f"incident {locked.reference} {to}")
    return locked


def incident_classify(*, actor: User, incident: Incident, severity: str, serious_facts: list[str],
                      aware_at: datetime | None) -> Incident:
    """Change an open incident's severity and the facts that decide whether it is a serious incident; the
    reporting deadline is recomputed from ``aware_at`` (and its reminders start again when it moves)."""
    now = timezone.now()
    problems = _Problems()
    if severity not in IncidentSeverity.values:
        problems.add("severity", f"choose one of {', '.join(str(s.label).lower() for s in IncidentSeverity)}")
    _check_facts(problems, serious_facts)
    if aware_at is None:
        problems.add("aware_at", "this field is required")
    elif timezone.is_naive(aware_at):
        problems.add("aware_at", "give a time zone")
    elif aware_at > now + CLOCK_SKEW:
        problems.add("aware_at", "cannot be in the future")
    if problems:
        raise labelled_error(problems)
    assert aware_at is not None
    with transaction.atomic():
        locked, systems = _lock(incident, actor)
        if locked.status in INCIDENT_TERMINAL:
            raise InvalidTransition(f"{locked.reference} is closed: reopen it before changing its classification")
        if aware_at < locked.detected_at:
            problems.add("aware_at", f"cannot be before {LABELS['detected_at']}")
            raise labelled_error(problems)
        before = _audit_data(locked)
        locked.severity, locked.serious_facts, locked.aware_at = severity, sorted(set(serious_facts)), aware_at
        _classify(locked)
        if locked.report_due_at != before["report_due_at"]:
            locked.reminded_due_soon_at = locked.reminded_overdue_at = None
        locked.updated_at = now
        locked.save()
        after = _audit_data(locked)
        changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
        audit_record(actor=actor, action="incident.classified", obj=locked, data={"changed": changed})
        for system in systems:
            readiness_changed(system=system, reason=f"incident {locked.reference} classified")
        if locked.is_serious and not before["is_serious"]:
            notify(recipients=_people_to_tell(locked, systems),
                   subject=f"Incident {locked.reference} is a serious incident",
                   body=f"{name_of(actor)} classified {locked.reference} ({locked.title}). {_deadline_words(locked)}",
                   url=locked.get_absolute_url())
    return locked


def incident_report(*, actor: User, incident: Incident, complete: bool, sent_at: datetime | None,
                    reference: str = "") -> Incident:
    """Record that the report to the market surveillance authority went out: an initial one that is not yet
    complete (Art. 73(5)), or the complete one. Whether it was in time is recorded with it."""
    now = timezone.now()
    reference = one_line(reference)
    problems = _Problems()
    if sent_at is None:
        problems.add("sent_at", "this field is required")
    elif timezone.is_naive(sent_at):
        problems.add("sent_at", "give a time zone")
    elif sent_at > now + CLOCK_SKEW:
        problems.add("sent_at", "cannot be in the future")
    if text_problem(reference):
        problems.add("reference", str(text_problem(reference)))
    elif len(reference) > 200:
        problems.add("reference", "at most 200 characters")
    if problems:
        raise labelled_error(problems)
    assert sent_at is not None
    to = ReportStatus.COMPLETE_SENT if complete else ReportStatus.INITIAL_SENT
    with transaction.atomic():
        locked, systems = _lock(incident, actor)
        if to not in REPORT_TRANSITIONS.get(locked.report_status, frozenset()):
            raise InvalidTransition(f"the report of {locked.reference} is "
                                    f"{ReportStatus(locked.report_status).label.lower()}: it cannot become "
                                    f"{ReportStatus(to).label.lower()}")
        if sent_at < locked.aware_at:
            problems.add("sent_at", f"cannot be before {LABELS['aware_at']}")
            raise labelled_error(problems)
        late = locked.report_due_at is not None and sent_at >= locked.report_due_at and (
            locked.report_status == ReportStatus.DUE)
        before = locked.report_status
        locked.report_status, locked.updated_at = to, now
        if complete:
            locked.complete_report_at = sent_at
        else:
            locked.initial_report_at = sent_at
        if reference:
            locked.authority_reference = reference
        locked.save()
        audit_record(actor=actor, action="incident.reported", obj=locked,
                     data={"from": before, "to": to, "sent_at": sent_at, "reference": reference,
                           "due_at": locked.report_due_at, "late": late})
        for system in systems:
            readiness_changed(system=system, reason=f"incident {locked.reference} reported")
    return locked


def incident_deadline_reminders(now: datetime | None = None) -> dict[str, int]:
    """Periodic: tell the people who must act when a serious incident's report is due within
    ``INCIDENT_REPORT_WARNING_HOURS``, and again once it is overdue; once each per deadline. Each
    incident is claimed with a conditional update, so a second or concurrent run sends nothing twice."""
    now = now or timezone.now()
    soon = now + timedelta(hours=int(getattr(settings, "INCIDENT_REPORT_WARNING_HOURS", 24)))
    counts = {"due_soon": 0, "overdue": 0}
    due = Incident.objects.filter(report_status=ReportStatus.DUE, report_due_at__isnull=False)
    pending = due.filter(Q(reminded_overdue_at=None, report_due_at__lte=now)
                         | Q(reminded_due_soon_at=None, report_due_at__gt=now, report_due_at__lte=soon))
    for pk, due_at in pending.order_by("report_due_at", "pk").values_list("pk", "report_due_at"):
        if due_at is None:
            continue
        overdue = due_at <= now
        column = "reminded_overdue_at" if overdue else "reminded_due_soon_at"
        with transaction.atomic():
            claimed = Incident.objects.filter(pk=pk, report_status=ReportStatus.DUE, report_due_at=due_at,
                                              **{column: None}).update(**{column: now})
            if not claimed:
                continue
            incident = Incident.objects.select_related("owner").get(pk=pk)
            systems = list(incident.systems.select_related("business_owner", "technical_owner", "risk_owner"))
            left = "is overdue" if overdue else "is due soon"
            notify(recipients=_people_to_tell(incident, systems),
                   subject=f"Report of serious incident {incident.reference} {left}",
                   body=f"{incident.reference} ({incident.title}) on {', '.join(s.name for s in systems)}. "
                        f"{_deadline_words(incident)} Record the report on the incident's page once it is sent.",
                   url=incident.get_absolute_url())
            audit_record(actor=None, action="incident.reminded", obj=incident,
                         data={"overdue": overdue, "due_at": due_at})
            counts["overdue" if overdue else "due_soon"] += 1
    return counts
