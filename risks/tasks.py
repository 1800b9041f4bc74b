"""Periodic work of the risk register (scheduled in ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="risks.expire_acceptances")
def expire_acceptances() -> int:
    """Periodic: acceptances past their expiry become expired (audited; readiness recomputed)."""
    from risks.services import acceptances_expire

    return acceptances_expire()


@shared_task(name="risks.remind_incident_deadlines")
def remind_incident_deadlines() -> dict[str, int]:
    """Periodic: reminders for serious incidents whose report is nearly due or overdue (once each)."""
    from risks.services.incidents import incident_deadline_reminders

    return incident_deadline_reminders()
