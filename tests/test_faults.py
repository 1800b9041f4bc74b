"""Faults injected into the real parts: Celery workers and beat as processes on the configured
database, a broker restarted without persistence, workers killed with SIGKILL in the middle of a
notification, a dossier export and an evidence sync. Nothing may be lost, and what a dead worker held
must finish, or fail and be retried, within a bounded time.

Leases and deadlines are short here (a 3 s lease, a 1 s heartbeat and sweep, a 2 s re-send deadline)
so the tests are quick; production defaults are 60 s, 15 s, 15 s and 120 s. Each test prints one
line of figures (run with -s to see them)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from catalog.models import EvalResult, SyncRun
from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.evidence import source_create, sync_request
from clearance.celery import app as celery_app
from clearance.models import Notification, OutboxMessage
from governance.models import ReadinessVerdict, Review
from governance.selectors.readiness import readiness_by_environment
from governance.services import exports
from governance.services.reviews import review_decide, reviews_open
from intake import services as intake
from intake.models import UseCaseRequest
from tests.catalog.evidence_helpers import sample
from tests.conftest import answers
from tests.processes import (
    HangingHttp,
    PrivateRedis,
    Process,
    SmtpServer,
    base_env,
    celery_beat,
    celery_worker,
)
from tests.test_celery_worker import database_url, wait_for

pytestmark = pytest.mark.celery_worker

# Lease, heartbeat, sweep and re-send deadline in seconds; FAULT_TIMINGS="60,15,15,120" measures
# with the production defaults instead (slow: each recovery then takes over a minute).
LEASE, HEARTBEAT, SWEEP, REDELIVER = (int(x) for x in os.environ.get("FAULT_TIMINGS", "3,1,1,2").split(","))
# From the fault to the work done: a lease to notice, a sweep and a re-send to take it back, the
# work itself, with room for a worker's start-up on a busy machine.
RECOVERY_BOUND = LEASE + 2 * SWEEP + REDELIVER + 30.0


@dataclass
class Stack:
    queue: str
    env: dict[str, str]
    tmp: Path
    smtp: SmtpServer
    processes: list[Process] = field(default_factory=list)

    def worker(self, name: str = "worker") -> Process:
        self.processes.append(celery_worker(self.queue, self.env, name))
        return self.processes[-1]

    def beat(self) -> Process:
        self.processes.append(celery_beat(self.env, self.tmp / f"beat-{uuid.uuid4().hex[:6]}"))
        return self.processes[-1]

    def logs(self) -> str:
        return "".join(p.tail(400) for p in self.processes)


def _use_broker(url: str) -> None:
    # The test process publishes through the same app; its connection pools follow the new URL.
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_url() -> str:
    return str(django_settings.CELERY_BROKER_URL)


@pytest.fixture
def stack(transactional_db: None, tmp_path: Path, settings: Any, broker_url: str) -> Iterator[Stack]:
    settings.OUTBOX_REDELIVER_SECONDS, settings.OUTBOX_REDELIVER_MAX_SECONDS = REDELIVER, 2 * REDELIVER
    settings.JOB_LEASE_SECONDS, settings.JOB_HEARTBEAT_SECONDS = LEASE, HEARTBEAT
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]  # the stalled source is a test server on loopback
    queue = f"clearance-faults-{uuid.uuid4().hex[:8]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    smtp = SmtpServer()
    env = base_env(
        DATABASE_URL=database_url(), CELERY_BROKER_URL=broker_url, CLEARANCE_VAR_DIR=str(settings.VAR_DIR),
        CELERY_QUEUE=queue, EVIDENCE_ALLOWED_HOSTS="127.0.0.1", OUTBOX_SWEEP_SECONDS=str(SWEEP), OUTBOX_REDELIVER_SECONDS=str(REDELIVER),
        OUTBOX_REDELIVER_MAX_SECONDS=str(2 * REDELIVER), JOB_LEASE_SECONDS=str(LEASE),
        JOB_HEARTBEAT_SECONDS=str(HEARTBEAT), EVIDENCE_DISPATCH_SECONDS=str(4 * SWEEP),
        # The other sweeps would mend some of what the outbox must recover by itself: keep them out.
        READINESS_CONSISTENCY_SECONDS="3600", READINESS_SWEEP_SECONDS="3600", WAIVER_SWEEP_SECONDS="3600", RISK_ACCEPTANCE_SWEEP_SECONDS="3600",
        APPROVAL_RECHECK_SECONDS="3600", REMINDER_SWEEP_SECONDS="3600", EXPORT_REAP_SECONDS="3600",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port), EMAIL_TIMEOUT="60", EVIDENCE_ALLOWED_DIRS=str(tmp_path),
        EVIDENCE_HTTP_TIMEOUT="60",
        # Checkpoints of the test database belong in the test's directory, not the var directory's file.
        AUDIT_CHECKPOINT_FILE=str(settings.AUDIT_CHECKPOINT_FILE),
    )
    stack = Stack(queue, env, tmp_path, smtp)
    try:
        yield stack
    finally:
        for process in stack.processes:
            process.stop()
        smtp.close()
        celery_app.conf.task_default_queue = default_queue


def await_(stack: Stack, condition: Any, timeout: float, what: str) -> None:
    """wait_for, with the processes' logs as they are when it gives up."""
    try:
        wait_for(condition, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}{stack.logs()}") from None


def report(fault: str, load: str, lost: int, seconds: float) -> None:
    print(f"\nFAULT | {fault} | {load} | follow-ups lost: {lost} | recovered in {seconds:.1f} s")


REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if not str(django_settings.CELERY_BROKER_URL).startswith("redis://"):
        pytest.skip("a broker restart needs Redis as the broker: this runs in the PostgreSQL + Redis pass "
                    "of .ci/run (CELERY_BROKER_URL=redis://...)")
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop(hard=True)
        _use_broker(str(django_settings.CELERY_BROKER_URL))


@pytest.fixture
def on_private_redis(private_redis: PrivateRedis) -> str:
    _use_broker(private_redis.url)
    return private_redis.url


def _queued(redis: PrivateRedis, queue: str) -> int:
    client = redis.client()
    return sum(client.llen(key) for key in client.keys(f"{queue}*") if client.type(key) == b"list")


def _stored_disagrees(system: Any) -> bool:
    _, live = readiness_by_environment(system, timezone.now())
    stored = {v.environment: v for v in ReadinessVerdict.objects.filter(system=system)}
    return any(env not in stored or stored[env].verdict != result.verdict
               or [r["status"] for r in stored[env].requirements] != [r.status for r in result.requirements]
               for env, result in live.items())


class TestBrokerRestart:
    @pytest.fixture
    def broker_url(self, on_private_redis: str) -> str:
        """The stack (worker, beat and this process) on the test's own redis-server."""
        return on_private_redis

    def test_a_broker_restart_without_persistence_loses_no_follow_up(self, stack, private_redis, personas):
        n = 10
        requester, lead, security = personas["requester"], personas["lead"], personas["security"]
        # No worker runs: every follow-up is published to Redis and waits there.
        requests = [intake.request_create_draft(requester=requester, **answers(title=f"Ticket summaries, team {i}"))
                    for i in range(n)]
        for req in requests:
            intake.request_submit(actor=requester, request=req)  # N submissions: an email to the lead each
        for i, req in enumerate(requests):
            req.refresh_from_db()
            intake.request_start_triage(actor=lead, request=req)
            req.refresh_from_db()
            intake.request_set_tier(actor=lead, request=req, tier=req.suggested_tier)
            intake.request_assign_owners(actor=lead, request=req, business=requester, technical=personas["owner"],
                                         risk=personas["risk"])
            intake.request_create_system(actor=lead, request=req, slug=f"fault-system-{i}")
            reviews_open(actor=lead, request=req, kinds=["security"])
        before_decisions = OutboxMessage.objects.count()
        for req in requests:  # N decisions: a readiness recompute and an email to the requester each
            review_decide(actor=security, review=Review.objects.get(request=req, kind="security"),
                          decision="approved", rationale="Threat model reviewed.")
        from_decisions = OutboxMessage.objects.count() - before_decisions
        total = OutboxMessage.objects.count()
        assert OutboxMessage.objects.filter(dispatched_at__isnull=False, completed_at=None).count() == total, \
            "every follow-up was published, none is done"
        assert _queued(private_redis, stack.queue) == total

        private_redis.restart()  # no snapshot, no append-only file: the queue is gone
        assert _queued(private_redis, stack.queue) == 0
        systems = [req.system for req in UseCaseRequest.objects.filter(pk__in=[r.pk for r in requests])]
        assert all(_stored_disagrees(system) for system in systems), "the stored verdicts still miss the approval"

        started = time.monotonic()
        stack.worker()
        stack.beat()

        def recovered() -> bool:
            return (not OutboxMessage.objects.filter(completed_at=None).exists()
                    and not Notification.objects.exclude(email_status="sent").exists())

        await_(stack, recovered, RECOVERY_BOUND + 90, "every follow-up to run")
        seconds = time.monotonic() - started
        notes = Notification.objects.count()
        lost = (OutboxMessage.objects.filter(completed_at=None).count()
                + Notification.objects.exclude(email_status="sent").count()
                + sum(_stored_disagrees(system) for system in systems))
        assert lost == 0
        assert not OutboxMessage.objects.filter(attempts__lt=2).exists(), "each one was published again"
        assert len(stack.smtp.messages) == notes, "each email once: duplicate deliveries sent nothing twice"
        production = ReadinessVerdict.objects.get(system=systems[0], environment="production")
        assert next(r for r in production.requirements if r["id"] == "security-approval")["status"] == "met"
        report("Redis restarted without persistence, worker stopped", f"{n} submissions + {n} decisions "
               f"({from_decisions + n} direct follow-ups, {total} messages with triage; {notes} emails)", lost, seconds)


def test_a_worker_killed_while_sending_an_email_is_replaced_and_the_email_goes_once(stack, personas):
    stack.smtp.hang.set()  # the mail server accepts the connection and then says nothing
    worker = stack.worker("worker-1")
    stack.beat()
    req = intake.request_create_draft(requester=personas["requester"], **answers())
    intake.request_submit(actor=personas["requester"], request=req)
    note = Notification.objects.get(recipient=personas["lead"])
    await_(stack, lambda: stack.smtp.hung >= 1 and Notification.objects.get(pk=note.pk).email_status == "sending",
           60, "the worker to be inside the SMTP session")
    worker.kill()
    killed = time.monotonic()
    stack.smtp.hang.clear()
    stack.worker("worker-2")
    await_(stack, lambda: Notification.objects.get(pk=note.pk).email_status == "sent", RECOVERY_BOUND + 60,
           "the email after the worker died")
    seconds = time.monotonic() - killed
    assert len(stack.smtp.messages) == 1 and "New AI use-case request" in stack.smtp.messages[0]
    assert OutboxMessage.objects.get(task_name="clearance.deliver_notification").completed_at is not None
    assert seconds < RECOVERY_BOUND
    report("kill -9 of the worker during a notification (SMTP session hung)", "1 email", 0, seconds)


@pytest.fixture
def big_dossier_system(request_in_review: Any, personas: dict[str, Any]) -> Any:
    """A system whose audit dossier takes a few seconds to render (a long model card)."""
    system = request_in_review.system
    notes = "\n\n".join(f"Paragraph {i}: known limitation of the summariser on long ticket threads, "
                        "with the mitigation agreed with the support leads and the date it was checked."
                        for i in range(400))
    card = model_card_draft(actor=personas["owner"], system=system, model_details="gpt-4o", intended_use="Summaries",
                            limitations="May omit details", body_markdown=notes)
    model_card_publish(actor=personas["owner"], card=card)
    return system


def test_a_worker_killed_while_building_a_dossier_is_replaced_and_the_dossier_is_built(
        stack, big_dossier_system, personas):
    worker = stack.worker("worker-1")
    stack.beat()
    job = exports.export_request(actor=personas["auditor"], system=big_dossier_system, kind="dossier")

    def rendering() -> bool:
        job.refresh_from_db()
        return job.status == "running" and job.step == "rendering the PDF"

    await_(stack, rendering, 90, "the worker to render the dossier")
    worker.kill()
    killed = time.monotonic()
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1, "killed in the middle of the render"
    stack.worker("worker-2")

    def finished() -> bool:
        job.refresh_from_db()
        return job.finished

    await_(stack, finished, RECOVERY_BOUND + 90, "the dossier after the worker died")
    seconds = time.monotonic() - killed
    assert (job.status, job.attempts) == ("succeeded", 2), job.error
    path = exports.export_file(job)
    assert path is not None and path.read_bytes().startswith(b"%PDF-") and job.pages >= 10
    assert not list(path.parent.glob(".partial-*")), "the killed attempt left no partial file"
    assert OutboxMessage.objects.get(task_name="governance.run_export").completed_at is not None
    assert seconds < RECOVERY_BOUND + 30  # the second attempt renders the whole dossier again
    path.unlink()
    report("kill -9 of the worker during a dossier export (mid-render)", f"1 dossier, {job.pages} pages", 0, seconds)


def test_a_worker_killed_mid_sync_frees_the_source_and_the_retry_lands_every_row_once(stack, personas):
    body = sample("lm_eval/legacy_arc_challenge-v2.0-res.json").read_bytes()
    server = HangingHttp(body)
    try:
        from tests.catalog.evidence_helpers import make_system

        system = make_system(personas)
        source = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="lm eval over HTTP",
                               location=server.url)
        server.hang.set()  # the source answers half its file and stalls
        worker = stack.worker("worker-1")
        stack.beat()
        run, _ = sync_request(actor=personas["owner"], source=source)
        await_(stack, lambda: server.requests >= 1 and SyncRun.objects.get(pk=run.pk).status == "running", 60,
               "the worker to be reading the source")
        worker.kill()
        killed = time.monotonic()
        server.hang.clear()
        stack.worker("worker-2")

        def retried() -> bool:
            return SyncRun.objects.filter(source=source).exclude(pk=run.pk).filter(
                status__in=["succeeded", "failed"]).exists()

        await_(stack, retried, RECOVERY_BOUND + 60, "the retry of the interrupted run")
        seconds = time.monotonic() - killed
        run.refresh_from_db()
        assert run.status == "failed" and run.error.startswith("interrupted") and "a retry is queued" in run.error
        retry = SyncRun.objects.exclude(pk=run.pk).get(source=source)
        assert (retry.trigger, retry.status, retry.rows_added) == ("retry", "succeeded", 2), retry.error
        assert EvalResult.objects.filter(evidence_source=source).count() == 2, "every row once"
        assert not SyncRun.objects.filter(source=source, status__in=["queued", "running"]).exists()
        assert seconds < RECOVERY_BOUND
        report("kill -9 of the worker during an evidence sync (source stalled)", "1 run, 2 rows", 0, seconds)
    finally:
        server.close()
