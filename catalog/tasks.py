"""Thin Celery tasks of the evidence pipeline: take ids, claim work, call one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from catalog.services.evidence import sync_run_execute, sync_sweep


@shared_task(
    name="catalog.sync_source",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.EVIDENCE_SYNC_MAX_RETRIES,
    soft_time_limit=settings.EVIDENCE_SYNC_SOFT_TIME_LIMIT,
    time_limit=settings.EVIDENCE_SYNC_TIME_LIMIT,
)
def sync_source(self: Any, run_id: int) -> str:
    """Sync one queued run. The run row is claimed with a conditional update, so a duplicate
    delivery does nothing; a source that is down is retried with exponential backoff and jitter,
    and the last attempt marks the run failed with the reason."""
    final = self.request.retries >= self.max_retries
    outcome = sync_run_execute(run_id=run_id, final_attempt=final)
    if outcome == "retry":
        countdown = get_exponential_backoff_interval(
            factor=30, retries=self.request.retries, maximum=1800, full_jitter=True
        )
        raise self.retry(countdown=max(countdown, 5))
    return outcome


@shared_task(name="catalog.dispatch_due_sources")
def dispatch_due_sources() -> dict[str, int]:
    """Periodic (beat): queue sources whose interval came round, re-send lost runs, reap dead ones."""
    return sync_sweep()
