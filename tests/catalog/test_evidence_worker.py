"""A real Celery worker syncs a large FOCUS export; killed mid-run (SIGKILL) it leaves no evidence,
the sweep fails the run readably, and a new run imports every row exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from catalog.models import CostRecord, EvidenceSource, StagedCost, SyncRun
from catalog.services.evidence import source_create, sync_request, sync_sweep
from clearance.celery import app as celery_app
from tests.catalog.evidence_helpers import make_system
from tests.test_celery_worker import BASE_DIR, database_url, wait_for

ROWS = 120_000


def write_focus(path: Path, rows: int) -> None:
    with path.open("w") as f:
        f.write("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,ResourceId,"
                "ConsumedQuantity,ConsumedUnit\n")
        for i in range(rows):
            day, hour = 1 + (i // 24) % 28, i % 24
            f.write(f"0.010000,0.009000,USD,2026-10-{day:02d}T{hour:02d}:00:00Z,2026-10-{day:02d}T{hour:02d}:59:59Z,"
                    f"LLM API,res-{i // 672},10,Requests\n")


class Worker:
    def __init__(self, queue: str, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "celery", "-A", "clearance", "worker", "--pool", "solo", "-Q", queue,
             "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--hostname", f"{queue}-{uuid.uuid4().hex[:4]}@%h"],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")), daemon=True).start()
        wait_for(lambda: any("ready." in line for line in self.lines) or self.proc.poll() is not None, 90,
                 "the worker to start")
        assert self.proc.poll() is None, "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def worker_factory(transactional_db, tmp_path) -> Iterator:
    queue = f"clearance-evidence-{uuid.uuid4().hex[:8]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "CLEARANCE_VAR_DIR": str(settings.VAR_DIR), "EVIDENCE_ALLOWED_DIRS": str(tmp_path),
           "EVIDENCE_BATCH_ROWS": "2000", "PYTHONUNBUFFERED": "1"}
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(queue, env)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        celery_app.conf.task_default_queue = default_queue
        for worker in started:
            worker.stop()


@pytest.mark.celery_worker
def test_worker_killed_mid_sync_leaves_nothing_then_a_rerun_lands_everything_once(
    worker_factory, personas, tmp_path, settings
):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    path = tmp_path / "focus.csv"
    write_focus(path, ROWS)
    system = make_system(personas)
    source = source_create(actor=personas["owner"], system=system, kind="focus", name="cloud bill",
                                    location=str(path))
    worker = worker_factory()
    run, _ = sync_request(actor=personas["owner"], source=source)  # committed: the outbox relays it

    def staging_under_way() -> bool:
        r = SyncRun.objects.get(pk=run.pk)
        return r.status == "running" and 0 < r.rows_read < ROWS

    wait_for(staging_under_way, 90, "the worker to stage part of the file\n" + "".join(worker.lines[-20:]))
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait()
    run.refresh_from_db()
    assert run.status == "running" and 0 < run.rows_read < ROWS
    assert CostRecord.objects.count() == 0, "a killed run leaves none of its rows"
    assert StagedCost.objects.filter(run=run).exists()

    assert sync_sweep(now=run.lease_until + timedelta(seconds=1))["reaped"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and "interrupted" in run.error
    assert not StagedCost.objects.exists()

    worker = worker_factory()
    rerun, created = sync_request(actor=personas["owner"], source=EvidenceSource.objects.get(pk=source.pk))
    assert created
    wait_for(lambda: SyncRun.objects.get(pk=rerun.pk).finished, 180,
             "the re-run to finish\n" + "".join(worker.lines[-20:]))
    rerun.refresh_from_db()
    assert (rerun.status, rerun.rows_read, rerun.rows_added, rerun.rows_duplicate) == ("succeeded", ROWS, ROWS, 0), rerun.error
    assert CostRecord.objects.filter(system=system).count() == ROWS

    # A duplicate delivery of the finished run's task does nothing.
    celery_app.send_task("catalog.sync_source", kwargs={"run_id": rerun.pk})
    wait_for(lambda: any("catalog.sync_source" in line and "not-claimed" in line for line in worker.lines), 60,
             "the duplicate delivery to be handled\n" + "".join(worker.lines[-20:]))
    assert CostRecord.objects.filter(system=system).count() == ROWS
