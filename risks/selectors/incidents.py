"""Reads of the incident register: the filtered register page (a fixed number of queries whatever the
number of incidents), the deadline in words, and an incident's timeline from the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, QuerySet

from catalog.models import AISystem
from clearance.audit import history_for
from clearance.models import AuditEvent
from risks.choices import INCIDENT_OPEN, IncidentStatus, ReportStatus
from risks.models import Incident
from risks.reporting import rules

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


@dataclass(frozen=True)
class RegisterFilters:
    status: str = "open"  # "open", "" (any) or one state
    system: str = ""  # a slug
    severity: str = ""
    overdue: bool = False


def register(user: User | AnonymousUser, filters: RegisterFilters, now: datetime) -> QuerySet[Incident]:
    """The incidents the user sees, filtered, newest first, with their handler and systems (two queries
    per page, plus the count)."""
    incidents = Incident.objects.visible_to(user)
    if filters.status == "open":
        incidents = incidents.filter(status__in=INCIDENT_OPEN)
    elif filters.status:
        incidents = incidents.filter(status=filters.status)
    if filters.system:
        incidents = incidents.filter(pk__in=Incident.objects.filter(systems__slug=filters.system).values("pk"))
    if filters.severity:
        incidents = incidents.filter(severity=filters.severity)
    if filters.overdue:
        incidents = incidents.overdue(now)
    return (incidents.select_related("owner")
            .prefetch_related(Prefetch("systems", queryset=AISystem.objects.only("pk", "slug", "name")
                                       .order_by("name")))
            .order_by("-created_at", "-pk"))


def span_words(delta: timedelta) -> str:
    """A span in words at a useful precision: "3 days 4 hours", "5 hours", "12 minutes"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour")
    return unit(minutes, "minute")


def deadline_words(incident: Incident, now: datetime) -> str:
    """Where the report to the authority stands, in words: a countdown while it is due."""
    if incident.report_status == ReportStatus.NOT_REQUIRED or incident.report_due_at is None:
        return "no report required"
    if incident.report_status == ReportStatus.COMPLETE_SENT:
        return "complete report sent"
    if incident.report_status == ReportStatus.INITIAL_SENT:
        return "initial report sent; complete report to follow"
    left = incident.report_due_at - now
    if left.total_seconds() <= 0:
        return f"report overdue by {span_words(left)}"
    return f"report due in {span_words(left)}"


def deadline_rule(incident: Incident) -> Any:
    return rules().deadline(incident.report_deadline) if incident.report_deadline else None


# What each audited action of an incident says on its timeline.
ACTION_WORDS = {
    "incident.opened": "reported it",
    "incident.moved": "moved it",
    "incident.reopened": "reopened it",
    "incident.classified": "changed its classification",
    "incident.reported": "recorded a report to the authority",
    "incident.reminded": "sent a reminder about the report's deadline",
}


@dataclass(frozen=True)
class TimelineEntry:
    event: AuditEvent
    words: str
    note: str


def _state_words(code: Any) -> str:
    for choices in (IncidentStatus, ReportStatus):
        if code in choices.values:
            return str(choices(code).label).lower()
    return str(code)


def timeline(incident: Incident) -> list[TimelineEntry]:
    """The incident's audit events in order, in words (one query)."""
    entries = []
    for event in history_for(incident).order_by("seq"):
        data = event.data if isinstance(event.data, dict) else {}
        words = ACTION_WORDS.get(event.action, event.action.replace(".", " ").replace("_", " "))
        if "from" in data and "to" in data:
            words += f" from {_state_words(data['from'])} to {_state_words(data['to'])}"
        if event.action == "incident.reported" and data.get("late"):
            words += ", after its deadline"
        if event.action == "incident.reminded":
            words = "sent a reminder: the report is overdue" if data.get("overdue") else "sent a reminder: the report is due soon"
        entries.append(TimelineEntry(event, words, str(data.get("note") or "")))
    return entries
