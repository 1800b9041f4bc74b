"""Thin Celery tasks of the evidence pipeline: take ids, claim work, call one service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.utils import timezone

from catalog.services.evidence import sync_retry_interrupted, sync_run_execute, sync_sweep
from clearance.outbox import outbox_defer, redeliver_delay


@shared_task(
    name="catalog.sync_source",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.EVIDENCE_SYNC_MAX_RETRIES,
    soft_time_limit=settings.EVIDENCE_SYNC_SOFT_TIME_LIMIT,
    time_limit=settings.EVIDENCE_SYNC_TIME_LIMIT,
)
def sync_source(self: Any, run_id: int, outbox_id: int | None = None) -> str:
    """Sync one queued run. The run row is claimed with a conditional update, so a duplicate
    delivery does nothing; a source that is down is retried with exponential backoff and jitter,
    and the last attempt marks the run failed with the reason."""
    final = self.request.retries >= self.max_retries
    outcome = sync_run_execute(run_id=run_id, final_attempt=final, outbox_id=outbox_id)
    if outcome == "retry":
        countdown = max(get_exponential_backoff_interval(
            factor=30, retries=self.request.retries, maximum=1800, full_jitter=True
        ), 5)
        # The outbox must not send the run again before its own retry is due.
        outbox_defer(message_id=outbox_id, until=timezone.now() + timedelta(seconds=countdown) + redeliver_delay(1))
        raise self.retry(countdown=countdown)
    return outcome


@shared_task(name="catalog.retry_interrupted_sync")
def retry_interrupted_sync(run_id: int, outbox_id: int | None = None) -> int | None:
    """Queue a new run of a source whose run was interrupted by a worker that died."""
    run = sync_retry_interrupted(run_id=run_id, outbox_id=outbox_id)
    return run.pk if run else None


@shared_task(name="catalog.dispatch_due_sources")
def dispatch_due_sources() -> dict[str, int]:
    """Periodic (beat): queue sources whose interval came round, re-send lost runs, reap dead ones."""
    return sync_sweep()
