"""The probes under gunicorn with a service really down, and request ids and task metrics across a
real Celery worker: a task's log lines carry the id of the request that caused it, directly and
through the outbox, and the worker's own metrics endpoint counts the task's outcome."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from clearance.celery import app as celery_app
from clearance.models import Notification, OutboxMessage
from clearance.observability import requestid
from clearance.outbox import outbox_enqueue, outbox_sweep
from tests.processes import Process, base_env, celery_worker, free_port
from tests.servers import Gunicorn
from tests.test_celery_worker import database_url, wait_for

TOKEN = "worker-scrape-token-42"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- probes with a service down ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_naming_the_broker_when_it_is_down_and_healthz_stays_up(tmp_path):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    server = Gunicorn(database_url(), tmp_path / "gunicorn.log", CELERY_BROKER_URL=closed, READYZ_TIMEOUT_MS="500")
    try:
        status, body = get(f"{server.url}/readyz", {"Host": "10.0.0.7:8000"})
        doc = json.loads(body)
        assert status == 503, doc
        assert doc["status"] == "unavailable"
        assert doc["checks"]["broker"]["ok"] is False and doc["checks"]["broker"]["error"]
        assert all(doc["checks"][name]["ok"] for name in ("database", "cache", "policy")), doc
        assert doc["checks"]["broker"]["ms"] < 5000
        assert get(f"{server.url}/healthz")[0] == 200
    finally:
        server.stop()
    assert "Traceback" not in server.output()


def test_readyz_is_503_naming_the_database_when_it_is_down_and_healthz_stays_up(tmp_path):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/clearance"  # nothing listens there
    server = Gunicorn(nowhere, tmp_path / "gunicorn.log", DB_CONNECT_TIMEOUT="2")
    try:
        status, body = get(f"{server.url}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = get(f"{server.url}/readyz")
        doc = json.loads(body)
        assert status == 503, doc
        assert doc["checks"]["database"]["ok"] is False
        assert "OperationalError" in doc["checks"]["database"]["error"]
        # The active policy is read from the database: it cannot be known either.
        assert doc["checks"]["policy"]["ok"] is False
    finally:
        server.stop()
    assert "Traceback" not in server.output()


# --- a real worker -------------------------------------------------------------------------------------------


@pytest.fixture
def json_worker(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[tuple[Process, int]]:
    """A worker logging JSON, counting in multi-process mode and serving its metrics on a port."""
    queue = f"clearance-ops-{uuid.uuid4().hex[:8]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over by a previous run")
    env = base_env(DATABASE_URL=database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   CLEARANCE_VAR_DIR=str(settings.VAR_DIR), CELERY_QUEUE=queue, LOG_FORMAT="json",
                   CELERY_METRICS_PORT=str(port), CELERY_METRICS_ADDRESS="127.0.0.1", METRICS_TOKEN=TOKEN,
                   PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
                   EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
                   AUDIT_CHECKPOINT_FILE=str(settings.AUDIT_CHECKPOINT_FILE))
    worker = celery_worker(queue, env, "json-worker")
    try:
        yield worker, port
    finally:
        worker.stop()
        celery_app.conf.task_default_queue = default_queue


def log_records(worker: Process) -> list[dict[str, Any]]:
    records = []
    for line in worker.lines:
        text = line.strip().split("  ", 1)[-1]  # Process prefixes a timestamp
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def task_lines(worker: Process, request_id: str) -> list[dict[str, Any]]:
    return [r for r in log_records(worker) if r.get("request_id") == request_id and r.get("task")]


def test_a_tasks_log_lines_carry_the_request_id_that_enqueued_it_and_the_worker_counts_it(json_worker, personas):
    worker, port = json_worker
    requester = personas["requester"]

    # Through the outbox, published on commit by the process that wrote it.
    with requestid.bound("req-on-commit-1"), transaction.atomic():
        first = Notification.objects.create(recipient=requester, subject="one", body="b")
        outbox_enqueue(task_name="clearance.deliver_notification", notification_id=first.pk)
    # Through the outbox, published later by a sweep that runs under another id.
    with requestid.bound("req-later-2"), transaction.atomic():
        second = Notification.objects.create(recipient=requester, subject="two", body="b")
        outbox_enqueue(task_name="clearance.deliver_notification", notification_id=second.pk,
                       not_before=timezone.now())
    with requestid.bound("the-sweep-3"):
        assert outbox_sweep()["sent"] >= 1
    # Sent directly, not through the outbox.
    with requestid.bound("req-direct-4"):
        celery_app.send_task("clearance.relay_outbox")

    def delivered() -> bool:
        return not OutboxMessage.objects.filter(completed_at=None).exists() and all(
            task_lines(worker, rid) for rid in ("req-on-commit-1", "req-later-2", "req-direct-4"))

    wait_for(delivered, 60, "the worker to run the three tasks")
    for rid, task in (("req-on-commit-1", "clearance.deliver_notification"),
                      ("req-later-2", "clearance.deliver_notification"), ("req-direct-4", "clearance.relay_outbox")):
        lines = task_lines(worker, rid)
        assert {line["task"] for line in lines} == {task}, lines
        assert any("succeeded" in line["message"] for line in lines), lines
    assert not task_lines(worker, "the-sweep-3"), "the stored id wins over the publisher's"
    ready = [r for r in log_records(worker) if "ready." in r.get("message", "")]
    assert ready and ready[0]["level"] == "INFO", "the worker's own lines are JSON too"

    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 401
    status, body = get(f"http://127.0.0.1:{port}/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert found[("clearance_celery_tasks_total",
                  (("outcome", "succeeded"), ("task", "clearance.deliver_notification")))] == 2
    assert found[("clearance_celery_tasks_total", (("outcome", "succeeded"), ("task", "clearance.relay_outbox")))] == 1
    assert found[("clearance_celery_task_duration_seconds_count", (("task", "clearance.deliver_notification"),))] == 2
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200


# --- several gunicorn workers ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_metrics_are_added_up_and_its_own_lines_are_json(settings, tmp_path):
    """The image's gunicorn settings with two workers: the scrape counts the requests every worker
    served (multi-process mode), the directory is emptied at start, and gunicorn logs JSON too."""
    import socket
    import time

    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over by a previous run")
    env = base_env(DATABASE_URL=database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   CLEARANCE_VAR_DIR=str(settings.VAR_DIR), GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2",
                   LOG_FORMAT="json", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), METRICS_TOKEN=TOKEN)
    server = Process([sys.executable, "-m", "gunicorn", "-c", "python:clearance.observability.gunicorn_config",
                      "clearance.wsgi:application"], env, ready="Booting worker", name="gunicorn")
    try:
        wait_for(lambda: sum("Booting worker" in line for line in server.lines) >= 2, 60, "two gunicorn workers")
        answered: list[int] = []

        def healthz() -> bool:
            try:
                ok = get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            except OSError:
                return False
            answered.extend([1] if ok else [])
            return ok

        wait_for(healthz, 60, "gunicorn to answer")
        assert not (metrics_dir / "counter_999999.db").exists(), "emptied when the master started"
        # A sync worker serves one connection at a time: hold one worker on a half-sent request, so
        # the next requests are served by the other, then let the first one finish.
        held = socket.create_connection(("127.0.0.1", port), timeout=30)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)
        for _ in range(10):
            assert healthz()
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(100).startswith(b"HTTP/1.1 200")
        held.close()
        pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("*.db")}
        assert len(pids) == 2, f"both workers counted: {sorted(pids)}"
        status, body = get(f"http://127.0.0.1:{port}/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        found = {(s.name, tuple(sorted(s.labels.items()))): s.value
                 for family in text_string_to_metric_families(body.decode()) for s in family.samples}
        # Every probe answered, whichever worker served it (either worker alone saw only its share).
        served_total = found[("clearance_http_request_duration_seconds_count", (("method", "GET"), ("view", "healthz")))]
        assert served_total == len(answered) + 1
        assert served_total == found[("clearance_http_responses_total",
                                      (("method", "GET"), ("status", "2xx"), ("view", "healthz")))]
    finally:
        server.stop()
    gunicorn_lines = [r for r in log_records(server) if r.get("logger") == "gunicorn.error"]
    assert any("Booting worker" in r["message"] for r in gunicorn_lines), server.tail()
