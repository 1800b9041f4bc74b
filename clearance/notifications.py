"""Notifications: in-app rows plus an email each, delivered through the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clearance.leases import Heartbeat, lease_deadline
from clearance.models import Notification
from clearance.outbox import outbox_complete, outbox_due_with_lease, outbox_enqueue


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


def notification_deliver(*, notification_id: int, outbox_id: int | None = None) -> bool:
    """Send the email of one notification. The notification is claimed with a conditional update
    (queued, or sending under a lease that has passed because its sender died), so a duplicate
    delivery does nothing; the outbox message is completed with the status that ends the work.

    Delivery is at least once: a sender killed after the mail server accepted the email but before
    it recorded SENT leaves the email to be sent again when its lease passes."""
    now = timezone.now()
    lease = lease_deadline(now)
    claimed = Notification.objects.filter(
        Q(email_status=Notification.EmailStatus.QUEUED)
        | Q(email_status=Notification.EmailStatus.SENDING, lease_until__lt=now),
        pk=notification_id,
    ).update(email_status=Notification.EmailStatus.SENDING, lease_until=lease)
    if not claimed:
        status = Notification.objects.filter(pk=notification_id).values_list("email_status", flat=True).first()
        if status not in (Notification.EmailStatus.QUEUED, Notification.EmailStatus.SENDING):
            outbox_complete(message_id=outbox_id)  # gone or finished: nothing left to do
        return False
    outbox_due_with_lease(message_id=outbox_id, lease_until=lease)
    note = Notification.objects.select_related("recipient").get(pk=notification_id)
    if not note.recipient.email:
        with transaction.atomic():
            Notification.objects.filter(pk=note.pk).update(
                email_status=Notification.EmailStatus.SKIPPED, lease_until=None)
            outbox_complete(message_id=outbox_id)
        return False
    link = f"{settings.SITE_URL}{note.url}" if note.url.startswith("/") else note.url

    def renew(until: datetime) -> bool:
        return Notification.objects.filter(
            pk=note.pk, email_status=Notification.EmailStatus.SENDING).update(lease_until=until) > 0

    try:
        with Heartbeat(renew, what=f"notification {note.pk}", outbox_id=outbox_id):
            send_mail(
                subject=f"[Clearance] {note.subject}",
                message=f"{note.body}\n\n{link}".strip(),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[note.recipient.email],
            )
    except Exception as exc:
        Notification.objects.filter(pk=note.pk, email_status=Notification.EmailStatus.SENDING).update(
            email_status=Notification.EmailStatus.QUEUED, lease_until=None, email_error=str(exc)[:2000]
        )
        raise
    with transaction.atomic():
        Notification.objects.filter(pk=note.pk).update(
            email_status=Notification.EmailStatus.SENT, emailed_at=timezone.now(), email_error="", lease_until=None
        )
        outbox_complete(message_id=outbox_id)
    return True
