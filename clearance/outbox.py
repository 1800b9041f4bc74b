"""Transactional outbox: work whose loss matters is written in the transaction that causes it.

``on_commit`` alone loses the task when the broker is down at commit time or the process dies right
after the commit. Here the row is committed with the change; a relay publishes it after the commit
and a periodic sweep (Celery beat, ``clearance.relay_outbox``) publishes whatever is still pending.
Publishing twice is allowed, so every task that is sent this way is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from clearance.models import OutboxMessage

log = logging.getLogger(__name__)


def outbox_enqueue(*, task_name: str, **kwargs: Any) -> OutboxMessage:
    """Record a task to run once the current transaction commits."""
    message = OutboxMessage.objects.create(task_name=task_name, kwargs=kwargs)
    transaction.on_commit(lambda: relay_pending(ids=[message.pk]), robust=True)
    return message


def _publish(message: OutboxMessage) -> None:
    from clearance.celery import app

    app.send_task(message.task_name, kwargs=message.kwargs, retry=True)


def relay_pending(*, ids: list[int] | None = None, older_than: timedelta | None = None, limit: int = 500) -> int:
    """Publish pending messages; returns how many were sent. Stops at the first broker failure."""
    sent = 0
    with transaction.atomic():
        pending = OutboxMessage.objects.select_for_update(skip_locked=True).filter(dispatched_at=None)
        if ids is not None:
            pending = pending.filter(pk__in=ids)
        if older_than is not None:
            pending = pending.filter(created_at__lte=timezone.now() - older_than)
        for message in pending.order_by("pk")[:limit]:
            try:
                _publish(message)
            except Exception as exc:  # the broker is down: keep the row for the next sweep
                log.warning("outbox: could not publish %s: %s", message, exc)
                OutboxMessage.objects.filter(pk=message.pk).update(
                    attempts=message.attempts + 1, last_error=str(exc)[:2000]
                )
                break
            OutboxMessage.objects.filter(pk=message.pk).update(
                dispatched_at=timezone.now(), attempts=message.attempts + 1, last_error=""
            )
            sent += 1
    return sent
