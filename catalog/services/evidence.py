"""Writes of the evidence pipeline: sources, sync runs and their ingestion, metric requirements,
budgets and single evaluation results. Typed, atomic, audited.

A sync run stages what its connector yields in committed batches (progress is visible, memory stays
flat), then swaps the run's rows into EvalResult/CostRecord in one short transaction with
``INSERT … SELECT … ON CONFLICT DO NOTHING`` on the natural key. So a run leaves all of its rows or
none, a duplicate delivery or a re-run adds nothing, and the counts come from the database itself.
A FOCUS delivery is the truth for its billing periods: the same transaction also removes the
source's rows of those periods that the delivery no longer has (see ``catalog.services.staging.swap``).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.choices import SourceKind, SyncStatus, SyncTrigger
from catalog.connectors import (
    CONNECTORS,
    SourceConfig,
    SourceError,
    SourceUnavailable,
)
from catalog.connectors.base import check_location
from catalog.connectors.credentials import encrypt_secret, resolve_secret
from catalog.models import (
    AISystem,
    CostBudget,
    EvalResult,
    EvidenceSource,
    MetricRequirement,
    SyncRun,
)
from catalog.models.evidence import ACTIVE_SYNC
from catalog.services.staging import Counts, Stager, discard_staged, swap
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError
from clearance.leases import Heartbeat, LeaseLost, lease_deadline
from clearance.outbox import outbox_complete, outbox_due_with_lease, outbox_enqueue
from clearance.untrusted import printable, text_problem

# PositiveIntegerField: 0 … 2**31 - 1 on every database Django supports.
POSITIVE_INT_MAX = 2**31 - 1


def _check_eval_fields(*, value: float, num_few_shot: int | None = None, **texts: str) -> None:
    """What an evaluation result may hold, checked like a form would: a finite value, text without
    NUL characters that fits its column, a metric name, a few-shot count its column holds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DomainError(f"the value {value!r} is not a finite number", field="value")
    if num_few_shot is not None and (isinstance(num_few_shot, bool) or not isinstance(num_few_shot, int)
                                     or not 0 <= num_few_shot <= POSITIVE_INT_MAX):
        raise DomainError(f"the few-shot count {num_few_shot!r} is not a whole number of examples",
                          field="num_few_shot")
    for name, text in texts.items():
        column = EvalResult._meta.get_field(name)
        limit = getattr(column, "max_length", None)
        problem = text_problem(text)
        if problem:
            raise DomainError(f"{name.replace('_', ' ')} {problem}", field=name)
        if limit is not None and len(text) > limit:
            raise DomainError(f"{name.replace('_', ' ')} has at most {limit} characters ({len(text)} given)",
                              field=name)
    if not texts["metric"].strip():
        raise DomainError("name the metric", field="metric")


def eval_result_record(
    *,
    system: AISystem,
    metric: str,
    value: float,
    source: str,
    source_run_id: str,
    observed_at: datetime,
    dataset: str = "",
    model_version: str = "",
    dataset_type: str = "",
    num_few_shot: int | None = None,
    source_url: str = "",
    actor: User | None = None,
) -> tuple[EvalResult, bool]:
    """Idempotent by the natural key; returns (result, created)."""
    _check_eval_fields(metric=metric, value=value, source=source, source_run_id=source_run_id, dataset=dataset,
                       model_version=model_version, dataset_type=dataset_type, source_url=source_url,
                       num_few_shot=num_few_shot)
    if observed_at > timezone.now():
        raise DomainError("an evaluation cannot be observed in the future", field="observed_at")
    with transaction.atomic():
        result, created = EvalResult.objects.get_or_create(
            system=system,
            source=source,
            source_run_id=source_run_id,
            metric=metric,
            dataset=dataset,
            defaults={"value": value, "observed_at": observed_at, "model_version": model_version,
                      "dataset_type": dataset_type, "num_few_shot": num_few_shot, "source_url": source_url},
        )
        if created:
            audit_record(
                actor=actor,
                action="eval_result.ingested",
                obj=result,
                data={"metric": metric, "value": value, "source": source, "run": source_run_id},
            )
            readiness_changed(system=system, reason=f"new {metric} result")
    return result, created


log = logging.getLogger(__name__)


# A queued run whose message was lost (broker restart) is sent again after this long.
QUEUED_GRACE = timedelta(minutes=10)


SOURCE_OPTIONS = (
    "name", "location", "experiment", "run_filter", "metrics", "model_version_key", "dataset_key",
    "default_model_version", "default_dataset", "tag_key", "default_currency", "auth_kind", "username", "secret_env",
    "enabled", "interval_minutes",
)


def _validate_source(kind: str, options: dict[str, Any]) -> None:
    if kind not in SourceKind.values:
        raise DomainError(f"unknown source kind {kind!r}", field="kind")
    if not str(options.get("name", "")).strip():
        raise DomainError("give the source a name", field="name")
    location = str(options.get("location", "")).strip()
    if not location:
        raise DomainError("where should Clearance read from? Give a URL or a file path", field="location")
    try:
        check_location(location)
    except SourceError as exc:
        raise DomainError(str(exc), field="location") from exc
    if kind == SourceKind.MLFLOW and not location.startswith(("http://", "https://")):
        raise DomainError("an MLflow source is the tracking server's http(s) URL", field="location")
    if kind == SourceKind.MLFLOW and not str(options.get("experiment", "")).strip():
        raise DomainError("name the MLflow experiment to read", field="experiment")
    interval = options.get("interval_minutes")
    if interval is not None and not (5 <= int(interval) <= 60 * 24 * 31):
        raise DomainError("sync every 5 minutes at the most often, and at least once a month", field="interval_minutes")
    if options.get("auth_kind", "none") not in ("none", "bearer", "basic"):
        raise DomainError("unknown authentication", field="auth_kind")
    env_name = str(options.get("secret_env", ""))
    if env_name and not env_name.replace("_", "").isalnum():
        raise DomainError("an environment variable name has letters, digits and underscores only", field="secret_env")
    metrics = options.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) and m.strip() for m in metrics):
        raise DomainError("list metric names, one per line", field="metrics")
    currency = str(options.get("default_currency") or "")
    if currency and not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise DomainError("a currency is a three-letter ISO 4217 code such as USD", field="default_currency")


def _normalize_options(options: dict[str, Any]) -> dict[str, Any]:
    if "default_currency" in options:
        options["default_currency"] = str(options["default_currency"] or "").strip().upper()
    return options


def source_create(*, actor: User | None, system: AISystem, kind: str, secret: str = "", **options: Any) -> EvidenceSource:
    unknown = set(options) - set(SOURCE_OPTIONS)
    if unknown:
        raise DomainError(f"unknown option(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    _normalize_options(options)
    _validate_source(kind, options)
    try:
        with transaction.atomic():
            source = EvidenceSource.objects.create(
                system=system, kind=kind, created_by=actor, secret_encrypted=encrypt_secret(secret), **options
            )
            audit_record(actor=actor, action="evidence_source.created", obj=source,
                         data={"system": system.slug, "kind": kind, "location": source.location,
                               "credential": "stored encrypted" if secret else ("env " + source.secret_env if source.secret_env else "none")})
    except IntegrityError as exc:
        raise DomainError(f"{system.name} already has a source named {options.get('name')!r}", field="name") from exc
    return source


def source_update(*, actor: User, source: EvidenceSource, secret: str = "", clear_secret: bool = False,
                  **options: Any) -> EvidenceSource:
    """Change a source; a blank ``secret`` keeps the stored one (it is never shown back to edit)."""
    unknown = set(options) - set(SOURCE_OPTIONS)
    if unknown:
        raise DomainError(f"unknown option(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    _normalize_options(options)
    with transaction.atomic():
        locked = EvidenceSource.objects.select_for_update().get(pk=source.pk)
        merged = {name: getattr(locked, name) for name in SOURCE_OPTIONS} | options
        _validate_source(locked.kind, merged)
        changed = sorted(name for name, value in options.items() if getattr(locked, name) != value)
        for name, value in options.items():
            setattr(locked, name, value)
        if secret:
            locked.secret_encrypted = encrypt_secret(secret)
            changed.append("credential")
        elif clear_secret and locked.secret_encrypted:
            locked.secret_encrypted = ""
            changed.append("credential")
        if "interval_minutes" in options:
            # A new interval takes effect from now, not from the old schedule.
            locked.next_sync_at = (timezone.now() + timedelta(minutes=locked.interval_minutes)
                                   if locked.interval_minutes else None)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError as exc:
            raise DomainError(f"{locked.system.name} already has a source named {locked.name!r}", field="name") from exc
        if changed:
            audit_record(actor=actor, action="evidence_source.updated", obj=locked, data={"changed": changed})
    return locked


def source_config(source: EvidenceSource) -> SourceConfig:
    return SourceConfig(
        kind=source.kind,
        location=source.location,
        system_slug=source.system.slug,
        experiment=source.experiment,
        run_filter=source.run_filter,
        metrics=tuple(source.metrics or ()),
        model_version_key=source.model_version_key or "model_version",
        dataset_key=source.dataset_key or "dataset",
        default_model_version=source.default_model_version,
        default_dataset=source.default_dataset,
        tag_key=source.tag_key,
        default_currency=source.default_currency,
        auth_kind=source.auth_kind,
        username=source.username,
        secret=resolve_secret(encrypted=source.secret_encrypted, env_name=source.secret_env),
    )


def sync_request(*, actor: User | None, source: EvidenceSource, trigger: str = SyncTrigger.MANUAL) -> tuple[SyncRun, bool]:
    """Queue a sync of the source; returns (run, created). A source has at most one active run:
    asking again while one is queued or running returns that run."""
    now = timezone.now()
    with transaction.atomic():
        locked = EvidenceSource.objects.select_for_update().get(pk=source.pk)
        if locked.interval_minutes:
            locked.next_sync_at = now + timedelta(minutes=locked.interval_minutes)
            locked.save(update_fields=["next_sync_at"])
        active = SyncRun.objects.filter(source=locked, status__in=(SyncStatus.QUEUED, SyncStatus.RUNNING)).first()
        if active is not None and _reap_interrupted(active.pk, now, retry=False):
            active = None  # its worker died: nobody is running it, so a new run starts now
        if active is not None:
            return active, False
        run = SyncRun.objects.create(source=locked, trigger=trigger, requested_by=actor, lease_until=now + QUEUED_GRACE)
        if trigger == SyncTrigger.MANUAL:
            audit_record(actor=actor, action="evidence_source.sync_requested", obj=locked, data={"run": run.pk})
        outbox_enqueue(task_name="catalog.sync_source", run_id=run.pk)
    return run, True


def _finish_failed(run_id: int, attempts: int, message: str, counts: Counts | None, *, retry: bool = False,
                   outbox_id: int | None = None) -> None:
    discard_staged(run_id)
    now = timezone.now()
    message = printable(message)
    fields: dict[str, Any] = {"error": message[:4000]}
    if counts is not None:
        fields.update(rows_read=counts.read, rows_skipped=counts.skipped, rows_ignored=counts.ignored,
                      row_errors=counts.errors)
    with transaction.atomic():
        if retry:
            SyncRun.objects.filter(pk=run_id, status=SyncStatus.RUNNING, attempts=attempts).update(
                status=SyncStatus.QUEUED, lease_until=now + QUEUED_GRACE,
                **{**fields, "error": f"attempt {attempts} failed: {message}; retrying"[:4000]},
            )
            return
        updated = SyncRun.objects.filter(pk=run_id, status=SyncStatus.RUNNING, attempts=attempts).update(
            status=SyncStatus.FAILED, finished_at=now, lease_until=None, rows_added=0, rows_duplicate=0, rows_removed=0,
            **fields
        )
        if updated:
            run = SyncRun.objects.select_related("source").get(pk=run_id)
            audit_record(actor=None, action="evidence_source.sync_failed", obj=run.source,
                         data={"run": run_id, "error": message[:500]})
            outbox_complete(message_id=outbox_id)


INTERRUPTED = "interrupted: the worker stopped before the run finished; nothing from it was kept"


def _reap_interrupted(run_id: int, now: datetime, *, retry: bool = True) -> bool:
    """Fail a running run whose lease passed (its worker died: the heartbeat stopped), drop what it
    staged, and with ``retry`` queue one retry, unless the run was itself a retry. The retry is sent
    by the next outbox sweep, as a new run (a click on "Sync now" meanwhile is not doubled)."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(of=("self",)).select_related("source").filter(
            pk=run_id, status=SyncStatus.RUNNING, lease_until__lt=now).first()
        if run is None:
            return False
        retrying = retry and run.trigger != SyncTrigger.RETRY
        error = INTERRUPTED + ("; a retry is queued" if retrying else "")
        SyncRun.objects.filter(pk=run_id).update(status=SyncStatus.FAILED, finished_at=now, lease_until=None,
                                                 error=error)
        discard_staged(run_id)
        audit_record(actor=None, action="evidence_source.sync_failed", obj=run.source,
                     data={"run": run_id, "error": error, "attempt": run.attempts})
        if retrying:
            outbox_enqueue(task_name="catalog.retry_interrupted_sync", run_id=run_id, not_before=now)
    log.warning("sync run %s of %s: %s", run_id, run.source, error)
    return True


def sync_retry_interrupted(*, run_id: int, outbox_id: int | None = None) -> SyncRun | None:
    """Queue the retry of an interrupted run: a new run of its source, unless one is active already."""
    with transaction.atomic():
        failed = SyncRun.objects.select_related("source").filter(pk=run_id).first()
        retry = None
        if failed is not None and failed.source.enabled:
            run, created = sync_request(actor=None, source=failed.source, trigger=SyncTrigger.RETRY)
            retry = run if created else None
        outbox_complete(message_id=outbox_id)
    return retry


def _settle_unclaimed(run_id: int, now: datetime, outbox_id: int | None) -> str:
    """A delivery that found nothing to claim: reap the run if its worker died, and complete the
    message once the run is over (a run under a live lease belongs to a worker that will)."""
    _reap_interrupted(run_id, now)
    status = SyncRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status not in ACTIVE_SYNC:
        outbox_complete(message_id=outbox_id)
    return "not-claimed"


def sync_run_execute(*, run_id: int, final_attempt: bool = True, outbox_id: int | None = None) -> str:
    """Run one queued sync. Returns "succeeded", "failed", "retry" (a transient failure on a
    non-final attempt: the run is queued again) or "not-claimed" (someone else has it, or it is over).

    The claim is a conditional update from QUEUED with a short lease that a heartbeat renews while
    the run works; the outbox message is completed in the transaction that ends the run."""
    now = timezone.now()
    lease = lease_deadline(now)
    claimed = SyncRun.objects.filter(status=SyncStatus.QUEUED, pk=run_id).update(
        status=SyncStatus.RUNNING, started_at=now, finished_at=None, attempts=F("attempts") + 1, error="",
        lease_until=lease, progress_done=0, progress_total=None, rows_read=0, rows_added=0, rows_duplicate=0,
        rows_removed=0, rows_skipped=0, rows_ignored=0, row_errors=[],
    )
    if not claimed:
        return _settle_unclaimed(run_id, now, outbox_id)
    outbox_due_with_lease(message_id=outbox_id, lease_until=lease)
    run = SyncRun.objects.select_related("source", "source__system").get(pk=run_id)
    final_attempt = final_attempt or run.attempts > settings.EVIDENCE_SYNC_MAX_RETRIES
    discard_staged(run_id)  # what a killed earlier attempt staged never counts
    stager = None

    def renew(until: datetime) -> bool:
        return SyncRun.objects.filter(pk=run_id, status=SyncStatus.RUNNING, attempts=run.attempts).update(
            lease_until=until) > 0

    def counts() -> Counts | None:
        return stager.counts if stager else None

    try:
        with Heartbeat(renew, what=f"sync run {run_id}", outbox_id=outbox_id) as heartbeat:
            connector = CONNECTORS[run.source.kind](source_config(run.source))
            stager = Stager(run, connector)
            for item in connector.fetch():
                stager.add(item)
            stager.flush(final=True)
            totals = stager.counts
            if totals.valid == 0 and totals.skipped:
                first = totals.errors[0] if totals.errors else {"row": "?", "reason": "?"}
                raise SourceError(f"every row was rejected ({totals.skipped}); first: {first['row']}: {first['reason']}")
            # The swap locks the run row and checks the claim first: a sweep that finds the lease
            # passed meanwhile waits for it, then sees the run finished.
            heartbeat.stop()
            with transaction.atomic():
                locked = SyncRun.objects.select_for_update().get(pk=run_id)
                if locked.status != SyncStatus.RUNNING or locked.attempts != run.attempts:
                    return "not-claimed"  # the lease ran out and the run was taken back
                finished = timezone.now()
                added, removed = swap(run, stager.is_cost, finished, stager.periods if stager.replaces else None)
                SyncRun.objects.filter(pk=run_id).update(
                    status=SyncStatus.SUCCEEDED, finished_at=finished, lease_until=None,
                    rows_read=totals.read, rows_added=added, rows_duplicate=totals.valid - added, rows_removed=removed,
                    rows_skipped=totals.skipped, rows_ignored=totals.ignored, row_errors=totals.errors,
                    progress_done=connector.done, progress_total=connector.total or connector.done,
                )
                if added or removed or totals.skipped:
                    audit_record(actor=run.requested_by, action="evidence_source.synced", obj=run.source,
                                 data={"run": run_id, "added": added, "duplicate": totals.valid - added,
                                       "removed": removed, "skipped": totals.skipped})
                if added or removed:
                    readiness_changed(system=run.source.system,
                                      reason=f"{added} new and {removed} replaced evidence record(s) from "
                                             f"{run.source.name}")
                outbox_complete(message_id=outbox_id)
        return "succeeded"
    except LeaseLost:
        log.warning("sync run %s: the lease passed while this worker ran it; it stops", run_id)
        return "not-claimed"
    except SoftTimeLimitExceeded:
        _finish_failed(run_id, run.attempts, f"stopped after {settings.EVIDENCE_SYNC_SOFT_TIME_LIMIT} s (time limit); "
                       "nothing from this run was kept", counts(), outbox_id=outbox_id)
        return "failed"
    except SourceUnavailable as exc:
        _finish_failed(run_id, run.attempts, str(exc), counts(), retry=not final_attempt, outbox_id=outbox_id)
        return "failed" if final_attempt else "retry"
    except SourceError as exc:
        _finish_failed(run_id, run.attempts, str(exc), counts(), outbox_id=outbox_id)
        return "failed"
    except Exception as exc:  # fail the run readably; the traceback goes to the log
        log.exception("sync run %s failed", run_id)
        _finish_failed(run_id, run.attempts, f"internal error: {type(exc).__name__}: {exc}", counts(),
                       outbox_id=outbox_id)
        return "failed"


def sync_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The beat dispatcher: fail runs whose worker died, re-send lost queued runs, queue due sources."""
    now = now or timezone.now()
    reaped = 0
    for run_id in SyncRun.objects.filter(status=SyncStatus.RUNNING, lease_until__lt=now).values_list("pk", flat=True):
        reaped += _reap_interrupted(run_id, now)
    resent = 0
    for run_id in SyncRun.objects.filter(status=SyncStatus.QUEUED, lease_until__lt=now).values_list("pk", flat=True):
        with transaction.atomic():
            if SyncRun.objects.filter(pk=run_id, status=SyncStatus.QUEUED, lease_until__lt=now).update(
                lease_until=now + QUEUED_GRACE
            ):
                outbox_enqueue(task_name="catalog.sync_source", run_id=run_id)
                resent += 1
    queued = 0
    due = EvidenceSource.objects.filter(enabled=True, interval_minutes__isnull=False).filter(
        Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    )
    for source in due.select_related("system"):
        _, created = sync_request(actor=None, source=source, trigger=SyncTrigger.SCHEDULE)
        queued += int(created)
    return {"reaped": reaped, "resent": resent, "queued": queued}


def metric_requirement_set(
    *,
    actor: User,
    system: AISystem,
    metric: str,
    threshold: float,
    dataset: str = "",
    higher_is_better: bool = True,
    max_age_days: int | None = None,
    baseline_value: float | None = None,
    max_regression: float | None = None,
    require_version_match: bool = True,
) -> MetricRequirement:
    metric, dataset = metric.strip(), dataset.strip()
    if not metric:
        raise DomainError("name the metric", field="metric")
    if max_age_days is not None and max_age_days < 1:
        raise DomainError("a maximum age is at least one day", field="max_age_days")
    if max_regression is not None and max_regression < 0:
        raise DomainError("the allowed regression is a non-negative amount", field="max_regression")
    if max_regression is not None and baseline_value is None:
        raise DomainError("an allowed regression needs a baseline to regress from", field="baseline_value")
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        if metric == locked.primary_metric:
            # The system's primary metric and its requirement row state one threshold.
            locked.metric_threshold, locked.metric_higher_is_better = threshold, higher_is_better
            locked.save(update_fields=["metric_threshold", "metric_higher_is_better", "updated_at"])
        requirement, created = MetricRequirement.objects.update_or_create(
            system=system, metric=metric, dataset=dataset,
            defaults={"threshold": threshold, "higher_is_better": higher_is_better, "max_age_days": max_age_days,
                      "baseline_value": baseline_value, "max_regression": max_regression,
                      "require_version_match": require_version_match},
        )
        audit_record(actor=actor, action="metric_requirement.set", obj=system,
                     data={"metric": metric, "dataset": dataset, "threshold": threshold, "created": created,
                           "higher_is_better": higher_is_better, "max_age_days": max_age_days,
                           "baseline": baseline_value, "max_regression": max_regression,
                           "version_match": require_version_match})
        readiness_changed(system=system, reason=f"{metric} requirement set")
    return requirement


def metric_requirement_delete(*, actor: User, requirement: MetricRequirement) -> None:
    with transaction.atomic():
        system = AISystem.objects.select_for_update().get(pk=requirement.system_id)
        deleted, _ = MetricRequirement.objects.filter(pk=requirement.pk).delete()
        if deleted:
            audit_record(actor=actor, action="metric_requirement.deleted", obj=system,
                         data={"metric": requirement.metric, "dataset": requirement.dataset})
            readiness_changed(system=system, reason=f"{requirement.metric} requirement removed")


def budget_set(*, actor: User, system: AISystem, monthly_amount: Decimal | str, currency: str = "USD") -> CostBudget:
    try:
        amount = Decimal(str(monthly_amount))
    except InvalidOperation as exc:
        raise DomainError(f"{monthly_amount!r} is not an amount", field="monthly_amount") from exc
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise DomainError("a budget is a non-negative amount", field="monthly_amount")
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise DomainError("a currency is a three-letter ISO 4217 code such as USD", field="currency")
    with transaction.atomic():
        AISystem.objects.select_for_update().get(pk=system.pk)
        budget, _ = CostBudget.objects.update_or_create(
            system=system, defaults={"monthly_amount": amount.quantize(Decimal("0.01")), "currency": currency}
        )
        audit_record(actor=actor, action="cost_budget.set", obj=system, data={"monthly": str(amount), "currency": currency})
        readiness_changed(system=system, reason="budget set")
    return budget
