"""Reminders for overdue reviews and expiring approvals, once per period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clearance.audit import audit_record
from clearance.notifications import notify
from governance.choices import (
    ReviewStatus,
)
from governance.models import Review, ReviewReminder
from governance.policy.reviews import load_review_policy
from governance.selectors.reviews import reviewers_of


def reminders_send(*, now: datetime | None = None) -> dict[str, int]:
    """Remind about overdue reviews (once a day) and approvals about to expire (once a week), in the
    app and by email. The (review, reason, period) key makes a second run in the same period send
    nothing; the email goes through the outbox and is retried if the backend fails."""
    now = now or timezone.now()
    warning = timedelta(days=load_review_policy().expiry_warning_days)
    sent = {"overdue": 0, "expiring": 0}
    day = now.date().isoformat()
    iso = now.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    overdue = (
        Review.objects.filter(status=ReviewStatus.OPEN, due_at__lt=now)
        .exclude(reminders__reason=ReviewReminder.Reason.OVERDUE, reminders__period=day)
        .select_related("request", "system", "assignee").order_by("due_at")
    )
    for review in overdue:
        late = (now - review.due_at).days
        recipients = [review.assignee] if review.assignee else list(reviewers_of(review.kind))
        if _remind_once(review, ReviewReminder.Reason.OVERDUE, day, now, recipients=recipients,
                        subject=f"Overdue: {review}",
                        body=f"This review was due on {review.due_at:%Y-%m-%d} ({late} day{'s' if late != 1 else ''} ago)."):
            sent["overdue"] += 1
    expiring = (
        Review.objects.filter(status=ReviewStatus.APPROVED, expires_at__gt=now, expires_at__lte=now + warning)
        .exclude(reminders__reason=ReviewReminder.Reason.EXPIRING, reminders__period=week)
        .select_related("request", "request__requester", "system", "decided_by").order_by("expires_at")
    )
    for review in expiring:
        recipients = [review.decided_by, getattr(review.request, "requester", None)]
        if review.system is not None:
            recipients += [review.system.business_owner, review.system.technical_owner]
        if _remind_once(review, ReviewReminder.Reason.EXPIRING, week, now, recipients=recipients,
                        subject=f"Approval expires {review.expires_at:%Y-%m-%d}: {review}",
                        body="Renew the review before it expires, or the deployment gate will block."):
            sent["expiring"] += 1
    return sent


def _remind_once(review: Review, reason: str, period: str, now: datetime, *, recipients: list[Any], subject: str,
                 body: str) -> bool:
    try:
        with transaction.atomic():
            ReviewReminder.objects.create(review=review, reason=reason, period=period, sent_at=now)
            notify(recipients=[u for u in recipients if u is not None], subject=subject, body=body,
                   url=review.get_absolute_url())
            audit_record(actor=None, action=f"review.reminded_{reason}", obj=review, data={"period": period})
    except IntegrityError:
        # A concurrent sweep reminded first for this period.
        return False
    return True
