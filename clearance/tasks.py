"""Platform tasks: the outbox sweep and notification delivery."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from clearance.notifications import notification_deliver
from clearance.outbox import relay_pending


@shared_task(name="clearance.relay_outbox")
def relay_outbox() -> int:
    # Leave the newest rows to the on-commit relay of the process that wrote them.
    return relay_pending(older_than=timedelta(seconds=5))


@shared_task(
    name="clearance.deliver_notification",
    autoretry_for=(Exception,),
    retry_backoff=10,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def deliver_notification(notification_id: int) -> bool:
    return notification_deliver(notification_id=notification_id)
