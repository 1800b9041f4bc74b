"""The deadline reminders run in a real Celery worker: the beat task's message reaches the worker, the
people are told once in the app, their emails are queued in the outbox, and a duplicate run adds nothing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from clearance.celery import app as celery_app
from clearance.models import Notification, OutboxMessage
from risks.models import Incident
from tests.risks.incident_helpers import open_incident
from tests.test_celery_worker import wait_for, worker  # noqa: F401 - the worker fixture


def test_reminders_are_sent_by_the_worker_once(worker, personas, risky_system):  # noqa: F811
    incident = open_incident(personas["owner"], risky_system, serious_facts=["health"])
    Incident.objects.filter(pk=incident.pk).update(report_due_at=timezone.now() - timedelta(minutes=5))
    subject = f"Report of serious incident {incident.reference} is overdue"
    for sent in (1, 2):
        celery_app.send_task("risks.remind_incident_deadlines", queue=worker["queue"])
        wait_for(lambda n=sent: sum("risks.remind_incident_deadlines" in line and "succeeded" in line
                                    for line in worker["lines"]) >= n, 60, f"run {sent} of the reminders")
    told = Notification.objects.filter(subject=subject)
    assert sorted(told.values_list("recipient__username", flat=True)) == ["lead", "owner", "risk"]
    # Each email waits in the outbox, written in the reminder's transaction (its delivery by a worker is
    # tested with the other notifications in tests/test_celery_worker.py).
    queued = OutboxMessage.objects.filter(task_name="clearance.deliver_notification")
    assert {m.kwargs["notification_id"] for m in queued} >= set(told.values_list("pk", flat=True))
    assert Incident.objects.get(pk=incident.pk).reminded_overdue_at is not None
