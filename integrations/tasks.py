"""Thin Celery task: one delivery attempt, and a retry of the task when the attempt asks for one.

The retry's wait comes from the delivery row (``integrations.delivery.backoff``), not from Celery's
own counter, so the row, the page and the task agree on attempts and on the next attempt's time;
the attempt limit (WEBHOOK_MAX_ATTEMPTS) is the row's too."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations.delivery import delivery_attempt


@shared_task(name="integrations.deliver_webhook", bind=True, max_retries=None)
def deliver_webhook(self: Any, delivery_id: int, outbox_id: int | None = None) -> str:
    outcome = delivery_attempt(delivery_id=delivery_id, outbox_id=outbox_id)
    if outcome is None:
        return "nothing to do"
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return str(outcome.status)
