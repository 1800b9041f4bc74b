"""Transactional outbox, delivered at least once to completion.

Work whose loss matters is written as a message in the transaction that causes it: ``on_commit``
alone loses the task when the broker is down at commit time or the process dies right after the
commit. A relay publishes the message after the commit, and a periodic sweep (Celery beat,
``clearance.relay_outbox``) publishes whatever is due.

Publishing is not delivery: a broker that restarts without persistence, or a worker killed with the
message in hand, loses a published message. So a message is done only when the task that did its
work marks it completed (``outbox_complete``, in the transaction of the work's effect where it can).
Until then it stays open, and once its ``due_at`` passes the sweep publishes it again, waiting twice
as long after each send; a message whose work a worker has claimed under a lease is due when that
lease passes (``outbox_due_with_lease``), so a dead worker's job is sent again about a lease later. Every task sent this way is therefore idempotent: it claims its work with a
conditional update, and a duplicate delivery finds nothing to claim and does nothing.

The id of the request (or task) that wrote a message is stored with it and sent as the task's
request-id header when it is published, however much later and from whichever process: the task's
log lines then carry the id of the work that caused it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clearance.models import OutboxMessage
from clearance.observability import requestid

log = logging.getLogger(__name__)

# The process that wrote a message publishes it as it commits; the sweep leaves it that long.
FIRST_SEND_GRACE = timedelta(seconds=5)

# Every task sent from the outbox takes this keyword: the message to mark completed.
OUTBOX_ID = "outbox_id"


def outbox_enqueue(*, task_name: str, not_before: datetime | None = None, **kwargs: Any) -> OutboxMessage:
    """Record a task to run once the current transaction commits.

    With ``not_before`` it is not published on commit but by the first sweep after that moment (a
    durable timer: it survives a restart of the broker and of every worker)."""
    origin = requestid.current() or ""
    if not_before is not None:
        return OutboxMessage.objects.create(task_name=task_name, kwargs=kwargs, due_at=not_before,
                                            origin_request_id=origin)
    message = OutboxMessage.objects.create(task_name=task_name, kwargs=kwargs, origin_request_id=origin,
                                           due_at=timezone.now() + FIRST_SEND_GRACE)
    transaction.on_commit(lambda: relay_pending(ids=[message.pk]), robust=True)
    return message


def outbox_enqueue_many(*, task_name: str, kwargs_list: list[dict[str, Any]]) -> list[OutboxMessage]:
    """``outbox_enqueue`` for many messages of one task in one INSERT (a fan-out, e.g. one webhook
    delivery per subscriber), relayed together after the commit."""
    due = timezone.now() + FIRST_SEND_GRACE
    messages = OutboxMessage.objects.bulk_create(
        [OutboxMessage(task_name=task_name, kwargs=kwargs, due_at=due) for kwargs in kwargs_list])
    ids = [message.pk for message in messages]
    if ids:
        transaction.on_commit(lambda: relay_pending(ids=ids), robust=True)
    return messages


def outbox_complete(*, message_id: int | None) -> None:
    """Mark the message done. Call it in the transaction that commits the work's effect, so the
    message is completed if and only if the work is."""
    if message_id is not None:
        OutboxMessage.objects.filter(pk=message_id, completed_at=None).update(completed_at=timezone.now())


def outbox_defer(*, message_id: int | None, until: datetime) -> None:
    """Do not publish the message again before ``until``: its work is running (under a lease) or
    waiting for a retry of its own."""
    if message_id is not None:
        OutboxMessage.objects.filter(pk=message_id, completed_at=None, due_at__lt=until).update(due_at=until)


def outbox_due_with_lease(*, message_id: int | None, lease_until: datetime) -> None:
    """The message's work was just claimed under a lease ending at ``lease_until``: the message is
    due exactly then, earlier than the re-send deadline publishing gave it. While the worker lives,
    its heartbeat moves lease and message on together (``outbox_defer``); when it dies, the sweep sends
    the message again as soon as the job can be taken back (about a lease after the death) instead of
    waiting out ``OUTBOX_REDELIVER_SECONDS`` from the publish."""
    if message_id is not None:
        OutboxMessage.objects.filter(pk=message_id, completed_at=None).update(due_at=lease_until)


def redeliver_delay(attempts: int) -> timedelta:
    """How long a message published ``attempts`` times may stay open before it is sent again."""
    seconds = settings.OUTBOX_REDELIVER_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.OUTBOX_REDELIVER_MAX_SECONDS))


def _publish(message: OutboxMessage) -> None:
    from clearance.celery import app

    origin = requestid.sane(message.origin_request_id)
    app.send_task(message.task_name, kwargs={**message.kwargs, OUTBOX_ID: message.pk}, retry=True,
                  headers={requestid.TASK_HEADER: origin} if origin else None)


def relay_pending(*, ids: list[int] | None = None, now: datetime | None = None, limit: int = 500) -> int:
    """Publish messages; returns how many were sent. With ``ids`` (the on-commit relay): those not yet
    published. Without (the sweep): every open message that is due, first sends and re-sends alike.
    Stops at the first broker failure; the rest wait for the next sweep."""
    return _relay(ids=ids, now=now, limit=limit)["sent"]


def _relay(*, ids: list[int] | None, now: datetime | None, limit: int) -> dict[str, int]:
    now = now or timezone.now()
    sent = resent = 0
    with transaction.atomic():
        pending = OutboxMessage.objects.select_for_update(skip_locked=True).filter(completed_at=None)
        if ids is not None:
            pending = pending.filter(pk__in=ids, dispatched_at=None)
        else:
            pending = pending.filter(due_at__lte=now)
        for message in pending.order_by("due_at", "pk")[:limit]:
            try:
                _publish(message)
            except Exception as exc:  # the broker is down: keep the row for the next sweep
                log.warning("outbox: could not publish %s: %s", message, exc)
                OutboxMessage.objects.filter(pk=message.pk).update(
                    attempts=message.attempts + 1, last_error=str(exc)[:2000], due_at=timezone.now()
                )
                break
            published = timezone.now()
            OutboxMessage.objects.filter(pk=message.pk).update(
                dispatched_at=published, attempts=message.attempts + 1, last_error="",
                due_at=published + redeliver_delay(message.attempts + 1),
            )
            sent += 1
            if message.dispatched_at is not None:
                resent += 1
                log.warning("outbox: re-sent %s #%s, published %s time(s) and still not completed",
                            message.task_name, message.pk, message.attempts)
    return {"sent": sent, "resent": resent}


def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The beat sweep: publish what is due (new messages whose on-commit relay did not run, and
    published ones not completed in time), and forget completed messages past OUTBOX_KEEP_DAYS."""
    now = now or timezone.now()
    counts = _relay(ids=None, now=now, limit=limit)
    horizon = now - timedelta(days=settings.OUTBOX_KEEP_DAYS)
    old = list(OutboxMessage.objects.filter(completed_at__lt=horizon).values_list("pk", flat=True)[:5000])
    counts["purged"] = OutboxMessage.objects.filter(pk__in=old).delete()[0] if old else 0
    counts["open"] = OutboxMessage.objects.filter(completed_at=None).count()
    if counts["resent"]:
        log.warning("outbox sweep: re-sent %d message(s) not completed within their deadline; %d still open",
                    counts["resent"], counts["open"])
    return counts
