"""Platform tasks: the outbox sweep and notification delivery."""

from __future__ import annotations

from celery import shared_task

from clearance.notifications import notification_deliver
from clearance.outbox import outbox_sweep


@shared_task(name="clearance.relay_outbox")
def relay_outbox() -> dict[str, int]:
    """Periodic (beat): publish due messages, first sends and re-sends of those not completed."""
    return outbox_sweep()


@shared_task(
    name="clearance.deliver_notification",
    autoretry_for=(Exception,),
    retry_backoff=10,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def deliver_notification(notification_id: int, outbox_id: int | None = None) -> bool:
    return notification_deliver(notification_id=notification_id, outbox_id=outbox_id)
