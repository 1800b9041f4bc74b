"""Notifications: in-app rows plus an email each, delivered through the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.utils import timezone

from clearance.models import Notification
from clearance.outbox import outbox_enqueue


def notify(*, recipients: Iterable[User | None], subject: str, body: str, url: str = "") -> list[Notification]:
    """Create one notification per distinct active recipient, in the caller's transaction."""
    seen: set[int] = set()
    created = []
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        note = Notification.objects.create(recipient=user, subject=subject[:200], body=body, url=url)
        outbox_enqueue(task_name="clearance.deliver_notification", notification_id=note.pk)
        created.append(note)
    return created


def notification_deliver(*, notification_id: int) -> bool:
    """Send the email of one notification once; a duplicate delivery finds nothing to claim."""
    claimed = Notification.objects.filter(
        pk=notification_id, email_status=Notification.EmailStatus.QUEUED
    ).update(email_status=Notification.EmailStatus.SENDING)
    if not claimed:
        return False
    note = Notification.objects.select_related("recipient").get(pk=notification_id)
    if not note.recipient.email:
        Notification.objects.filter(pk=note.pk).update(email_status=Notification.EmailStatus.SKIPPED)
        return False
    link = f"{settings.SITE_URL}{note.url}" if note.url.startswith("/") else note.url
    try:
        send_mail(
            subject=f"[Clearance] {note.subject}",
            message=f"{note.body}\n\n{link}".strip(),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[note.recipient.email],
        )
    except Exception as exc:
        Notification.objects.filter(pk=note.pk).update(
            email_status=Notification.EmailStatus.QUEUED, email_error=str(exc)[:2000]
        )
        raise
    Notification.objects.filter(pk=note.pk).update(
        email_status=Notification.EmailStatus.SENT, emailed_at=timezone.now(), email_error=""
    )
    return True
