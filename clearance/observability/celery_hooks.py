"""Celery's signals, connected once for every process that imports the Celery app (web and worker):

- publishing a task sends the current request id along as a message header (unless the caller set
  one, as the outbox does with the id it stored);
- running a task sets that id (a fresh one when the task has none) and the task's name and id for
  its log lines, and counts the task's outcome and run time;
- logging is left to Django's LOGGING (``LOG_FORMAT``), so a worker's lines look like the web's;
- in multi-process metrics mode a worker empties its metrics directory when it starts and marks a
  prefork child's files dead when it exits.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from typing import Any

from celery import signals

from clearance.observability import metrics, requestid

log = logging.getLogger("clearance.tasks")

# task id -> (the context it runs in, when it started); a pool thread or process runs one task at a time.
_running: dict[str, tuple[ExitStack, float]] = {}


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: Any) -> None:
    """Receiving this signal tells Celery not to install its own handlers and formats: the settings'
    LOGGING (applied by django.setup()) already sends every logger to stderr in LOG_FORMAT."""


@signals.before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is None:
        return
    if requestid.sane(headers.get(requestid.TASK_HEADER)) is None:
        current = requestid.current()
        if current is not None:
            headers[requestid.TASK_HEADER] = current


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None or task is None:
        return
    stack = ExitStack()
    incoming = getattr(task.request, requestid.TASK_HEADER, None)
    stack.enter_context(requestid.in_task(name=task.name, task_id=task_id, request_id=incoming))
    _running[task_id] = (stack, time.perf_counter())


@signals.task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    entry = _running.pop(task_id or "", None)
    if entry is None:
        return
    stack, started = entry
    if task is not None:
        metrics.CELERY_TASK_DURATION.labels(task=task.name).observe(time.perf_counter() - started)
    stack.close()


def _count(sender: Any, outcome: str) -> None:
    name = getattr(sender, "name", None) or "unknown"
    metrics.CELERY_TASKS.labels(task=name, outcome=outcome).inc()


@signals.task_success.connect
def _succeeded(sender: Any = None, **kwargs: Any) -> None:
    _count(sender, "succeeded")


@signals.task_failure.connect
def _failed(sender: Any = None, **kwargs: Any) -> None:
    _count(sender, "failed")


@signals.task_retry.connect
def _retried(sender: Any = None, **kwargs: Any) -> None:
    _count(sender, "retried")


@signals.task_rejected.connect
def _rejected(sender: Any = None, message: Any = None, **kwargs: Any) -> None:
    # Sent by the consumer for a message of an unknown task: its name is in the message headers.
    name = (getattr(message, "headers", None) or {}).get("task", "unknown")
    metrics.CELERY_TASKS.labels(task=str(name)[:120], outcome="rejected").inc()


@signals.task_revoked.connect
def _revoked(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    _count(sender, "revoked")


@signals.worker_init.connect
def _worker_starting(**kwargs: Any) -> None:
    """The worker's main process, before it forks its pool: start from an empty metrics directory
    (files of a previous run's processes would otherwise be added in) and serve the metrics."""
    from clearance.observability import worker_exporter
    from clearance.observability.multiproc import empty_directory

    directory = metrics.multiprocess_dir()
    if directory:
        empty_directory(directory)
    worker_exporter.start_from_settings()


@signals.worker_process_shutdown.connect
def _child_exiting(pid: int | None = None, **kwargs: Any) -> None:
    if pid is not None and metrics.multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
