"""Writes of the register, one module per domain: ``risks`` (risks and acceptances), ``incidents``."""

from risks.services.incidents import (
    IncidentInput,
    incident_classify,
    incident_deadline_reminders,
    incident_move,
    incident_open,
    incident_report,
)
from risks.services.risks import (
    LABELS,
    MAX_CONTROLS,
    RiskInput,
    acceptances_expire,
    risk_accept,
    risk_create,
    risk_update,
)

__all__ = [
    "IncidentInput",
    "incident_classify",
    "incident_deadline_reminders",
    "incident_move",
    "incident_open",
    "incident_report",
    "LABELS", "MAX_CONTROLS", "RiskInput", "acceptances_expire", "risk_accept", "risk_create", "risk_update"]
