"""A real Celery worker process on the configured broker (kombu's filesystem transport by default,
Redis in CI) against the test database: the outbox relays, the worker recomputes and delivers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from catalog.services.systems import system_set_evaluation_target
from clearance import outbox
from clearance.celery import app as celery_app
from clearance.models import Notification, OutboxMessage
from clearance.notifications import notification_deliver
from governance.models import ReadinessVerdict
from intake import services as intake
from tests.conftest import answers

BASE_DIR = Path(__file__).resolve().parents[1]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(condition: Callable[[], bool], timeout: float = 45, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def worker(transactional_db: None) -> Iterator[dict[str, Any]]:
    """Start `celery worker` on a queue of its own, so nothing else on the broker interferes."""
    queue = f"clearance-test-{uuid.uuid4().hex[:8]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CLEARANCE_VAR_DIR": str(settings.VAR_DIR),
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "celery", "-A", "clearance", "worker", "--pool", "solo", "-Q", queue,
         "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--hostname", f"{queue}@%h"],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("ready." in line for line in lines) or proc.poll() is not None, 60, "the worker to start")
        assert proc.poll() is None, "".join(lines)
        yield {"lines": lines, "queue": queue}
    finally:
        celery_app.conf.task_default_queue = default_queue
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.celery_worker
def test_new_evidence_recomputes_readiness_through_outbox_and_worker(worker, request_in_review):
    system = request_in_review.system
    ReadinessVerdict.objects.filter(system=system).delete()
    system_set_evaluation_target(actor=None, system=system, metric="rouge_l", threshold=0.4)
    wait_for(lambda: ReadinessVerdict.objects.filter(system=system, environment="production").exists(),
             what="the worker to store a verdict\n" + "".join(worker["lines"][-30:]))
    assert ReadinessVerdict.objects.get(system=system, environment="production").verdict == "block"
    wait_for(lambda: not OutboxMessage.objects.filter(dispatched_at=None).exists(), what="the outbox to drain")


@pytest.mark.celery_worker
def test_submission_email_is_delivered_by_the_worker(worker, personas):
    req = intake.request_create_draft(requester=personas["requester"], **answers())
    intake.request_submit(actor=personas["requester"], request=req)
    note = Notification.objects.get(recipient=personas["lead"])
    wait_for(lambda: Notification.objects.get(pk=note.pk).email_status == "sent",
             what="the notification email\n" + "".join(worker["lines"][-30:]))
    assert any("New AI use-case request" in line for line in worker["lines"])


@pytest.mark.celery_worker
def test_a_broker_down_at_commit_loses_nothing(worker, personas, monkeypatch):
    def broker_down(message: OutboxMessage) -> None:
        raise ConnectionRefusedError("broker unreachable")

    monkeypatch.setattr(outbox, "_publish", broker_down)
    req = intake.request_create_draft(requester=personas["requester"], **answers())
    intake.request_submit(actor=personas["requester"], request=req)  # commits; the relay fails
    pending = OutboxMessage.objects.get(task_name="clearance.deliver_notification")
    assert pending.dispatched_at is None and pending.attempts == 1 and "unreachable" in pending.last_error
    req.refresh_from_db()
    assert req.status == "submitted", "the submission itself is kept"

    monkeypatch.undo()
    assert outbox.relay_pending() == 1  # what the beat sweep does
    wait_for(lambda: Notification.objects.get(recipient=personas["lead"]).email_status == "sent",
             what="delivery after the broker came back")


@pytest.mark.django_db
def test_duplicate_deliveries_do_nothing_twice(personas, request_in_review, mailoutbox):
    from governance.tasks import recompute_readiness

    note = Notification.objects.filter(recipient=personas["lead"]).first()
    assert notification_deliver(notification_id=note.pk) is True
    assert notification_deliver(notification_id=note.pk) is False
    assert len(mailoutbox) == 1
    system = request_in_review.system
    recompute_readiness(system.pk, "first")
    first = {v.environment: v.computed_at for v in ReadinessVerdict.objects.filter(system=system)}
    assert recompute_readiness(system.pk, "again") == {}, "a repeated recompute changes no verdict"
    assert ReadinessVerdict.objects.filter(system=system).count() == len(first)


@pytest.mark.django_db
def test_periodic_sweep_recomputes_where_evidence_aged_out(request_in_review, personas):
    from governance.services.readiness import readiness_due_for_recompute, readiness_recompute
    from tests.conftest import make_ready

    system = request_in_review.system
    make_ready(system, personas)
    readiness_recompute(system_id=system.pk)
    verdict = ReadinessVerdict.objects.get(system=system, environment="production")
    assert verdict.verdict == "pass"
    assert verdict.valid_until is not None and verdict.valid_until < timezone.now() + timedelta(days=29)
    assert system.pk not in readiness_due_for_recompute()
    later = verdict.valid_until + timedelta(seconds=1)
    assert system.pk in readiness_due_for_recompute(later)
