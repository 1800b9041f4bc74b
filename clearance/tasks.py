"""Platform tasks: the outbox sweep, notification delivery and the audit checkpoint."""

from __future__ import annotations

import logging

from celery import shared_task

from clearance.checkpoints import CheckpointRefused, write_checkpoint
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


@shared_task(name="clearance.audit_checkpoint")
def audit_checkpoint() -> dict[str, object]:
    """Periodic (beat): sign the audit chain's head into the checkpoint file, after verifying the
    events since the last checkpoint. A chain that does not verify is logged as an error, not signed."""
    try:
        result = write_checkpoint()
    except CheckpointRefused as exc:
        logging.getLogger("clearance.audit").error("audit checkpoint REFUSED: %s", exc)
        return {"written": False, "problem": str(exc)}
    return {"written": result.written, "seq": result.seq}
