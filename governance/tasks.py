"""Thin Celery tasks: take ids, call one service. Each is safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from catalog.choices import LifecycleStage
from catalog.models import AISystem
from clearance.outbox import outbox_complete
from governance.services.approvals import approvals_recheck
from governance.services.readiness import (
    readiness_consistency_sweep,
    readiness_due_for_recompute,
    readiness_recompute,
)
from governance.services.reminders import reminders_send
from governance.services.reviews import reviews_reopen_after_resubmission

log = logging.getLogger(__name__)

RETRY: dict[str, Any] = {"autoretry_for": (Exception,), "retry_backoff": 5, "retry_backoff_max": 300, "retry_jitter": True,
         "max_retries": 5}


@shared_task(name="governance.recompute_readiness", **RETRY)
def recompute_readiness(system_id: int, reason: str = "", outbox_id: int | None = None) -> dict[str, str]:
    if not AISystem.objects.filter(pk=system_id).exists():
        outbox_complete(message_id=outbox_id)
        return {}
    # A change that asks for a recompute may be material to an approval (model, model card).
    approvals_recheck(system_id=system_id, reason=reason)
    return readiness_recompute(system_id=system_id, reason=reason, outbox_id=outbox_id)


@shared_task(name="governance.check_readiness_consistency")
def check_readiness_consistency() -> dict[str, int]:
    """Periodic (beat): recompute every stored verdict that disagrees with a live evaluation."""
    return readiness_consistency_sweep()


@shared_task(name="governance.recompute_all_readiness", **RETRY)
def recompute_all_readiness(reason: str = "", outbox_id: int | None = None) -> int:
    """Fan out one recompute per system (after a policy activation); each is idempotent, so a
    redelivery of this task only repeats them. Sent through the outbox, which passes ``outbox_id``.
    Until each has run, the gate computes live: every stored verdict names the older version."""
    system_ids = list(AISystem.objects.order_by("pk").values_list("pk", flat=True))
    for system_id in system_ids:
        recompute_readiness.delay(system_id, reason)
    outbox_complete(message_id=outbox_id)
    return len(system_ids)


@shared_task(name="governance.recompute_expired_readiness")
def recompute_expired_readiness() -> int:
    """Periodic: recompute where an approval or a piece of evidence has aged out since the last run,
    and where a live system has no stored verdict yet."""
    due = set(readiness_due_for_recompute())
    due |= set(
        AISystem.objects.exclude(lifecycle_stage=LifecycleStage.RETIRED)
        .filter(verdicts__isnull=True)
        .values_list("pk", flat=True)
    )
    for system_id in sorted(due):
        try:
            readiness_recompute(system_id=system_id, reason="evidence or approval aged out")
        except Exception:
            log.exception("readiness recompute failed for system %s", system_id)
    return len(due)


@shared_task(name="governance.reopen_reviews_after_resubmission", **RETRY)
def reopen_reviews_after_resubmission(request_id: int, outbox_id: int | None = None) -> int:
    return reviews_reopen_after_resubmission(request_id=request_id, outbox_id=outbox_id)


@shared_task(name="governance.send_review_reminders")
def send_review_reminders() -> dict[str, int]:
    """Periodic (beat): overdue reviews and approvals about to expire; idempotent per period."""
    return reminders_send()


@shared_task(name="governance.recheck_approvals")
def recheck_approvals() -> int:
    """Periodic safety net: lapse approvals whose pinned facts changed by a path that did not ask."""
    return len(approvals_recheck(reason="periodic check"))


@shared_task(name="governance.run_export")
def run_export(export_id: int, outbox_id: int | None = None) -> str:
    """Build one queued PDF export (audit dossier); a duplicate delivery finds it claimed and stops."""
    from governance.services.exports import export_run

    job = export_run(export_id=export_id, outbox_id=outbox_id)
    return job.status if job else "already claimed"


@shared_task(name="governance.reap_exports")
def reap_exports() -> int:
    """Periodic (beat): fail exports rendered in a web request whose process died mid-render."""
    from governance.services.exports import exports_reap

    return exports_reap()


@shared_task(name="governance.expire_waivers")
def expire_waivers() -> int:
    """Periodic: approved waivers past their end become expired (audited; readiness recomputed)."""
    from governance.services.waivers import waivers_expire

    return waivers_expire()
