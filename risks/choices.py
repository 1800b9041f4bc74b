from __future__ import annotations

from django.db import models


class Treatment(models.TextChoices):
    MITIGATE = "mitigate", "Mitigate"
    ACCEPT = "accept", "Accept"
    TRANSFER = "transfer", "Transfer"
    AVOID = "avoid", "Avoid"


class AcceptanceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LAPSED = "lapsed", "Lapsed"  # the risk's scores or treatment changed after it was given
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"  # its expiry passed (marked by the periodic task risks.expire_acceptances)


class IncidentStatus(models.TextChoices):
    TRIAGE = "triage", "Triage"
    INVESTIGATING = "investigating", "Investigating"
    MITIGATED = "mitigated", "Mitigated"
    CLOSED = "closed", "Closed"


INCIDENT_TRANSITIONS: dict[str, frozenset[str]] = {
    # Triage may close an incident at once (a duplicate, or not about an AI system after all).
    IncidentStatus.TRIAGE: frozenset({IncidentStatus.INVESTIGATING, IncidentStatus.CLOSED}),
    IncidentStatus.INVESTIGATING: frozenset({IncidentStatus.MITIGATED, IncidentStatus.CLOSED}),
    # A mitigation that does not hold sends the incident back to investigation.
    IncidentStatus.MITIGATED: frozenset({IncidentStatus.INVESTIGATING, IncidentStatus.CLOSED}),
    # Reopening needs a reason (INCIDENT_NEEDS_NOTE); nothing else leaves the closed state.
    IncidentStatus.CLOSED: frozenset({IncidentStatus.INVESTIGATING}),
}
# The states that end an incident: it no longer counts as open anywhere (register, gate, reminders).
INCIDENT_TERMINAL = frozenset({IncidentStatus.CLOSED})
INCIDENT_OPEN = frozenset(set(IncidentStatus.values) - INCIDENT_TERMINAL)
# Moves that need a written note: closing says how it ended, reopening says why.
INCIDENT_NEEDS_NOTE = frozenset({(s, IncidentStatus.CLOSED) for s in INCIDENT_OPEN}
                                | {(IncidentStatus.CLOSED, IncidentStatus.INVESTIGATING)})


class IncidentSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class HarmCategory(models.TextChoices):
    HEALTH = "health", "Physical or mental harm to people"
    DISCRIMINATION = "discrimination", "Discrimination or unfair treatment"
    PRIVACY = "privacy", "Privacy or personal data exposed"
    ECONOMIC = "economic", "Financial or economic loss"
    SERVICE = "service", "An essential service disrupted"
    PROPERTY_ENVIRONMENT = "property_environment", "Damage to property or the environment"
    MISINFORMATION = "misinformation", "Wrong or misleading information given out"
    REPUTATION = "reputation", "Harm to reputation or trust"
    OTHER = "other", "Other harm"


class ReportStatus(models.TextChoices):
    """The report to the market surveillance authority (EU AI Act Art. 73) of a serious incident."""

    NOT_REQUIRED = "not_required", "Not required (not a serious incident)"
    DUE = "due", "Due"
    INITIAL_SENT = "initial_sent", "Initial report sent, complete report to follow"
    COMPLETE_SENT = "complete_sent", "Complete report sent"


REPORT_TRANSITIONS: dict[str, frozenset[str]] = {
    # Classification moves between these two while no report has gone out.
    ReportStatus.NOT_REQUIRED: frozenset({ReportStatus.DUE}),
    ReportStatus.DUE: frozenset({ReportStatus.NOT_REQUIRED, ReportStatus.INITIAL_SENT, ReportStatus.COMPLETE_SENT}),
    ReportStatus.INITIAL_SENT: frozenset({ReportStatus.COMPLETE_SENT}),
    ReportStatus.COMPLETE_SENT: frozenset(),
}
