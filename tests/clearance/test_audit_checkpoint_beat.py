"""The periodic checkpoint with the real parts: celery beat schedules ``clearance.audit_checkpoint``
from the settings' beat schedule, a worker runs it against the test database, and the lines it
appends verify against the table (and name a tail cut after them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction

from clearance.audit import audit_record
from clearance.checkpoints import read_checkpoints, verify_checkpoints
from clearance.models import AuditEvent, AuditHead
from clearance.tasks import audit_checkpoint
from tests.processes import Process, base_env, celery_beat, celery_worker
from tests.test_celery_worker import database_url, wait_for


def test_the_beat_schedule_runs_the_checkpoint_task():
    entry = django_settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == "clearance.audit_checkpoint" and entry["schedule"] == 300
    assert audit_checkpoint.name == entry["task"]


@pytest.fixture
def beat_and_worker(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[list[Process]]:
    queue = f"clearance-audit-{uuid.uuid4().hex[:8]}"
    env = base_env(
        DATABASE_URL=database_url(), CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
        CLEARANCE_VAR_DIR=str(settings.VAR_DIR), CELERY_QUEUE=queue,
        AUDIT_CHECKPOINT_FILE=str(settings.AUDIT_CHECKPOINT_FILE), AUDIT_CHECKPOINT_SECONDS="1",
        # Only the checkpoint matters here: keep the other sweeps out of the way.
        OUTBOX_SWEEP_SECONDS="3600", READINESS_CONSISTENCY_SECONDS="3600", READINESS_SWEEP_SECONDS="3600",
        WAIVER_SWEEP_SECONDS="3600", RISK_ACCEPTANCE_SWEEP_SECONDS="3600", APPROVAL_RECHECK_SECONDS="3600", REMINDER_SWEEP_SECONDS="3600",
        EXPORT_REAP_SECONDS="3600", EVIDENCE_DISPATCH_SECONDS="3600",
    )
    processes: list[Process] = []
    try:
        processes.append(celery_worker(queue, env, "audit-worker"))
        processes.append(celery_beat(env, tmp_path / "beat-schedule"))
        yield processes
    finally:
        for process in processes:
            process.stop()


def _seqs(path: Path) -> list[int]:
    if not path.exists():
        return []
    checkpoints, problem, _ = read_checkpoints(path)
    assert not problem, problem
    return [c.seq for c in checkpoints]


@pytest.mark.celery_worker
def test_beat_appends_signed_checkpoints_that_catch_a_later_rollback(beat_and_worker, personas):
    path = Path(django_settings.AUDIT_CHECKPOINT_FILE)
    for i in range(3):
        audit_record(actor=None, action=f"test.beat.{i}", obj=personas["lead"])
    head = AuditHead.objects.get().seq
    logs = lambda: "".join(p.tail() for p in beat_and_worker)  # noqa: E731
    try:
        wait_for(lambda: head in _seqs(path), 60, "the first checkpoint from beat")
        audit_record(actor=None, action="test.beat.more", obj=personas["lead"])
        wait_for(lambda: head + 1 in _seqs(path), 60, "a checkpoint of the new head")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{logs()}") from None
    assert _seqs(path)[-1] == head + 1  # an unchanged head adds no line
    report = verify_checkpoints()
    assert report.ok and report.checked == len(_seqs(path))

    for process in beat_and_worker:
        process.stop()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        AuditEvent.objects.filter(seq=head + 1).delete()
        AuditHead.objects.update(seq=head, hash=AuditEvent.objects.get(seq=head).hash)
    report = verify_checkpoints()
    assert not report.ok and report.reason == "rollback"
    assert f"checkpoint at seq {head + 1} signed" in report.problem and f"database ends at seq {head}" in report.problem
