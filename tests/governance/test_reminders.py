"""Reminders for overdue reviews and approvals about to expire: in the app and by email, once per
period, and an email backend that fails loses neither the decision nor the reminder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from clearance.models import Notification
from clearance.notifications import notification_deliver
from governance.models import Review, ReviewReminder
from governance.services.reminders import reminders_send
from governance.services.reviews import review_claim, review_decide

pytestmark = pytest.mark.django_db


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused the connection")


def test_overdue_review_is_reminded_once_a_day(request_in_review, personas):
    security = Review.objects.get(request=request_in_review, kind="security")
    review_claim(actor=personas["security"], review=security)
    # Noon, so "an hour later" is the same day whenever the suite runs (it failed from 23:00 UTC).
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    Review.objects.filter(pk=security.pk).update(due_at=now - timedelta(days=2))
    assert reminders_send(now=now) == {"overdue": 1, "expiring": 0}
    assert reminders_send(now=now + timedelta(hours=1)) == {"overdue": 0, "expiring": 0}, "same day"
    note = Notification.objects.get(recipient=personas["security"], subject__startswith="Overdue")
    assert "2 days ago" in note.body
    assert reminders_send(now=now + timedelta(days=1))["overdue"] == 1, "next day, again"
    assert ReviewReminder.objects.filter(review=security).count() == 2


def test_unclaimed_overdue_review_reminds_every_reviewer_of_the_kind(request_in_review, personas):
    Review.objects.filter(request=request_in_review, kind="legal").update(due_at=timezone.now() - timedelta(days=1))
    reminders_send()
    assert Notification.objects.filter(recipient=personas["legal"], subject__startswith="Overdue").count() == 1


def test_approval_about_to_expire_is_reminded_once_a_week(request_in_review, personas):
    review = Review.objects.get(request=request_in_review, kind="privacy")
    review_decide(actor=personas["privacy"], review=review, decision="approved", rationale="ok",
                           expires_at=timezone.now() + timedelta(days=10))
    far = Review.objects.get(request=request_in_review, kind="legal")
    review_decide(actor=personas["legal"], review=far, decision="approved", rationale="ok")
    now = timezone.now()
    assert reminders_send(now=now)["expiring"] == 1
    assert reminders_send(now=now)["expiring"] == 0
    subjects = set(Notification.objects.filter(subject__startswith="Approval expires").values_list("recipient__username",
                                                                                                 flat=True))
    assert subjects == {"privacy", "requester", "owner"}
    assert reminders_send(now=now + timedelta(days=7))["expiring"] == 1, "next week, again"


def test_failing_email_backend_keeps_decision_and_retries_the_email(request_in_review, personas, settings):
    settings.EMAIL_BACKEND = "tests.governance.test_reminders.FailingBackend"
    review = Review.objects.get(request=request_in_review, kind="security")
    Review.objects.filter(pk=review.pk).update(due_at=timezone.now() - timedelta(days=1))
    reminders_send()
    note = Notification.objects.get(recipient=personas["security"], subject__startswith="Overdue")
    with pytest.raises(ConnectionRefusedError):
        notification_deliver(notification_id=note.pk)
    note.refresh_from_db()
    assert note.email_status == "queued" and "refused" in note.email_error
    # The decision taken meanwhile stands whatever the mail server does.
    decided = review_decide(actor=personas["legal"],
                                     review=Review.objects.get(request=request_in_review, kind="legal"),
                                     decision="approved", rationale="ok")
    assert Review.objects.get(pk=decided.pk).status == "approved"
    # The retry (Celery autoretry calls the same function again) succeeds once the backend is back.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notification_deliver(notification_id=note.pk) is True
    note.refresh_from_db()
    assert note.email_status == "sent" and mail.outbox[-1].subject.startswith("[Clearance] Overdue")
    assert notification_deliver(notification_id=note.pk) is False, "a duplicate delivery sends nothing"
