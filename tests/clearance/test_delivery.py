"""Delivery to completion, in one process: an outbox message stays open until the task that does its
work completes it, the sweep sends open messages again after their deadline, and tracked jobs whose
worker died (a lease that passed) are taken back. The fault tests with real processes (a worker
killed with SIGKILL, a broker restarted without persistence) are in tests/test_faults.py."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from catalog.models import SyncRun
from catalog.services.evidence import source_create, sync_request, sync_run_execute, sync_sweep
from clearance import outbox
from clearance.leases import Heartbeat
from clearance.models import Notification, OutboxMessage
from clearance.notifications import notification_deliver, notify
from governance.models import DocumentExport
from governance.services.exports import export_request, export_run
from tests.catalog.evidence_helpers import copy_sample, make_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stand in for the broker: record what is published (the message is then as good as lost)."""
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(outbox, "_publish", lambda m: sent.append({"task": m.task_name, **m.kwargs,
                                                                    "outbox_id": m.pk}))
    return sent


def test_a_published_message_stays_open_and_is_sent_again_until_its_work_is_done(
        personas, published, settings, mailoutbox):
    settings.OUTBOX_REDELIVER_SECONDS, settings.OUTBOX_REDELIVER_MAX_SECONDS = 60, 200
    [note] = notify(recipients=[personas["lead"]], subject="Hello", body="b")
    message = OutboxMessage.objects.get(task_name="clearance.deliver_notification")
    assert outbox.relay_pending(ids=[message.pk]) == 1  # what the on-commit relay does
    message.refresh_from_db()
    assert message.dispatched_at is not None and message.completed_at is None, "published is not done"

    now = timezone.now()
    assert outbox.outbox_sweep(now=now)["resent"] == 0, "not due yet"
    sweeps = []
    for waited in (61, 61 + 121, 61 + 121 + 201, 61 + 121 + 201 + 201):
        sweeps.append(outbox.outbox_sweep(now=now + timedelta(seconds=waited))["resent"])
    assert sweeps == [1, 1, 1, 1], "re-sent after 60 s, then 120 s, then capped at 200 s"
    assert len(published) == 5 and {p["outbox_id"] for p in published} == {message.pk}

    # The broker lost every one of them; a worker finally runs the task: the email goes once.
    assert notification_deliver(notification_id=note.pk, outbox_id=message.pk) is True
    message.refresh_from_db()
    note.refresh_from_db()
    assert message.completed_at is not None and note.email_status == "sent" and len(mailoutbox) == 1
    assert outbox.outbox_sweep(now=now + timedelta(days=1))["resent"] == 0, "a completed message is not sent again"
    # A late duplicate delivery finds nothing to claim, sends nothing, and keeps the message completed.
    assert notification_deliver(notification_id=note.pk, outbox_id=message.pk) is False
    assert len(mailoutbox) == 1


def test_completed_messages_are_forgotten_after_the_keep_days(personas, published, settings):
    settings.OUTBOX_KEEP_DAYS = 7
    notify(recipients=[personas["lead"], personas["owner"]], subject="s", body="b")
    first, second = OutboxMessage.objects.order_by("pk")
    outbox.outbox_complete(message_id=first.pk)
    later = timezone.now() + timedelta(days=8)
    counts = outbox.outbox_sweep(now=later)
    assert counts["purged"] == 1 and counts["open"] == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [second.pk], "open messages are never purged"


def test_a_message_with_not_before_waits_for_the_sweep(published, django_capture_on_commit_callbacks):
    soon = timezone.now() + timedelta(seconds=30)
    with django_capture_on_commit_callbacks() as callbacks:
        message = outbox.outbox_enqueue(task_name="clearance.deliver_notification", notification_id=1,
                                        not_before=soon)
    assert callbacks == [], "no relay on commit"
    with django_capture_on_commit_callbacks() as callbacks:
        outbox.outbox_enqueue(task_name="clearance.deliver_notification", notification_id=2)
    assert len(callbacks) == 1, "an ordinary message is relayed as its transaction commits"
    OutboxMessage.objects.exclude(pk=message.pk).update(completed_at=timezone.now())
    assert outbox.outbox_sweep(now=soon - timedelta(seconds=1))["sent"] == 0
    assert outbox.outbox_sweep(now=soon)["sent"] == 1 and published[0]["notification_id"] == 1


def test_a_notification_left_sending_by_a_dead_worker_is_taken_back_after_its_lease(personas, mailoutbox, settings):
    settings.JOB_LEASE_SECONDS = 60
    [note] = notify(recipients=[personas["lead"]], subject="Decision", body="b")
    message = OutboxMessage.objects.get(task_name="clearance.deliver_notification")
    # A worker claimed it, then was killed before it sent anything.
    Notification.objects.filter(pk=note.pk).update(email_status="sending",
                                                   lease_until=timezone.now() + timedelta(seconds=60))
    assert notification_deliver(notification_id=note.pk, outbox_id=message.pk) is False, "the lease still holds"
    message.refresh_from_db()
    assert message.completed_at is None, "nobody finished it: the message stays open to be sent again"
    Notification.objects.filter(pk=note.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert notification_deliver(notification_id=note.pk, outbox_id=message.pk) is True
    note.refresh_from_db()
    message.refresh_from_db()
    assert note.email_status == "sent" and note.lease_until is None and message.completed_at is not None
    assert [m.subject for m in mailoutbox] == ["[Clearance] Decision"]


def test_a_failing_mail_server_keeps_the_message_open(personas, settings, monkeypatch):
    [note] = notify(recipients=[personas["lead"]], subject="s", body="b")
    message = OutboxMessage.objects.get(task_name="clearance.deliver_notification")

    def refused(**kwargs: Any) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("clearance.notifications.send_mail", refused)
    with pytest.raises(ConnectionRefusedError):
        notification_deliver(notification_id=note.pk, outbox_id=message.pk)
    note.refresh_from_db()
    message.refresh_from_db()
    assert (note.email_status, note.lease_until) == ("queued", None) and "mail server down" in note.email_error
    assert message.completed_at is None


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_the_lease_and_moves_the_message_on(personas, settings):
    settings.JOB_LEASE_SECONDS, settings.JOB_HEARTBEAT_SECONDS = 4, 1
    [note] = notify(recipients=[personas["lead"]], subject="s", body="b")
    message = OutboxMessage.objects.get(task_name="clearance.deliver_notification")
    start = timezone.now()
    Notification.objects.filter(pk=note.pk).update(email_status="sending", lease_until=start + timedelta(seconds=4))

    def renew(until: Any) -> bool:
        return Notification.objects.filter(pk=note.pk, email_status="sending").update(lease_until=until) > 0

    with Heartbeat(renew, what="test", outbox_id=message.pk) as beat:
        time.sleep(2.5)
    note.refresh_from_db()
    message.refresh_from_db()
    assert beat.beats >= 2 and not beat.lost
    assert note.lease_until > start + timedelta(seconds=5), "renewed past the first lease"
    assert message.due_at >= note.lease_until - timedelta(seconds=1), "the sweep waits for the lease"

    # Someone took the job back: the next beat notices and stops.
    Notification.objects.filter(pk=note.pk).update(email_status="sent")
    with Heartbeat(renew, what="test", outbox_id=message.pk) as beat:
        deadline = time.monotonic() + 5
        while not beat.lost and time.monotonic() < deadline:
            time.sleep(0.1)
    assert beat.lost
    assert beat._thread is not None and not beat._thread.is_alive(), "the beat stops with the block"


def test_a_dossier_whose_worker_died_is_taken_back_and_fails_after_the_last_attempt(personas, settings, tmp_path):
    settings.EXPORT_DIR = tmp_path
    settings.EXPORT_MAX_ATTEMPTS = 2
    system = make_system(personas)
    job = export_request(actor=personas["auditor"], system=system, kind="dossier")
    message = OutboxMessage.objects.get(task_name="governance.run_export")
    past = timezone.now() - timedelta(seconds=1)
    # Attempt 1 died mid-way: its lease passed.
    DocumentExport.objects.filter(pk=job.pk).update(status="running", attempts=1, lease_until=past)
    done = export_run(export_id=job.pk, outbox_id=message.pk)
    assert done is not None and (done.status, done.attempts) == ("succeeded", 2), done.error
    message.refresh_from_db()
    assert message.completed_at is not None

    again = export_request(actor=personas["auditor"], system=system, kind="dossier")
    DocumentExport.objects.filter(pk=again.pk).update(status="running", attempts=2, lease_until=past)
    assert export_run(export_id=again.pk) is None
    again.refresh_from_db()
    assert again.status == "failed" and again.error.startswith("interrupted") and "2 times" in again.error


def test_a_card_pdf_whose_web_process_died_is_failed_by_the_reaper(personas, settings):
    from governance.services.exports import exports_reap

    settings.JOB_LEASE_SECONDS = 60
    system = make_system(personas)
    job = DocumentExport.objects.create(kind="decision", system=system, object_id=1, requested_by=personas["owner"],
                                        status="running", attempts=1,
                                        lease_until=timezone.now() - timedelta(seconds=30))
    assert exports_reap() == 0, "within a lease of margin: the renderer may still finish"
    assert exports_reap(now=timezone.now() + timedelta(seconds=31)) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "request it again" in job.error


@pytest.fixture
def lm_eval_source(personas, settings, tmp_path):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    system = make_system(personas)
    path = copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", tmp_path)
    return source_create(actor=personas["owner"], system=system, kind="lm_eval", name="lm eval", location=str(path))


def test_a_sync_run_whose_worker_died_is_failed_and_retried_once(lm_eval_source, personas):
    run, _ = sync_request(actor=personas["owner"], source=lm_eval_source)
    dead = timezone.now() - timedelta(seconds=1)
    SyncRun.objects.filter(pk=run.pk).update(status="running", attempts=1, lease_until=dead)
    # The run's own message, sent again after its lease passed, reaps it.
    message = OutboxMessage.objects.get(task_name="catalog.sync_source", kwargs__run_id=run.pk)
    assert sync_run_execute(run_id=run.pk, outbox_id=message.pk) == "not-claimed"
    run.refresh_from_db()
    message.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("interrupted") and "a retry is queued" in run.error
    assert message.completed_at is not None
    retry_message = OutboxMessage.objects.get(task_name="catalog.retry_interrupted_sync")
    assert retry_message.dispatched_at is None, "sent by the next sweep, not on commit"

    from catalog.tasks import retry_interrupted_sync

    retry_id = retry_interrupted_sync(run.pk, outbox_id=retry_message.pk)
    retry = SyncRun.objects.get(pk=retry_id)
    assert retry.trigger == "retry" and retry.status == "queued"
    assert sync_run_execute(run_id=retry.pk) == "succeeded"
    # A retry that is itself interrupted is failed without another retry.
    SyncRun.objects.filter(pk=retry.pk).update(status="running", lease_until=dead)
    assert sync_sweep()["reaped"] == 1
    retry.refresh_from_db()
    assert retry.status == "failed" and "retry" not in retry.error
    assert OutboxMessage.objects.filter(task_name="catalog.retry_interrupted_sync").count() == 1


def test_sync_now_never_says_under_way_for_a_run_nobody_is_running(client, lm_eval_source, personas):
    run, _ = sync_request(actor=personas["owner"], source=lm_eval_source)
    SyncRun.objects.filter(pk=run.pk).update(status="running", attempts=1,
                                             lease_until=timezone.now() + timedelta(seconds=30))
    client.force_login(personas["owner"])
    response = client.post(f"/evidence/sources/{lm_eval_source.pk}/sync/", follow=True)
    assert "A sync of this source is already under way." in response.content.decode(), "a live lease: it is running"

    # Its worker died: the heartbeat stopped and the lease passed; no sweep has run yet.
    SyncRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    response = client.post(f"/evidence/sources/{lm_eval_source.pk}/sync/", follow=True)
    page = response.content.decode()
    assert "already under way" not in page and "already queued" not in page
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("interrupted")
    fresh = SyncRun.objects.filter(source=lm_eval_source).exclude(pk=run.pk).get()
    assert fresh.status == "queued" and response.redirect_chain[-1][0].endswith(f"/evidence/runs/{fresh.pk}/")

    response = client.post(f"/evidence/sources/{lm_eval_source.pk}/sync/", follow=True)
    assert "A sync of this source is already queued." in response.content.decode()


class Killed(BaseException):
    """The worker's process ends here: no ``except Exception`` runs, every row stays as it was (the
    in-process stand-in for SIGKILL; tests/test_faults.py kills real workers)."""


def _dies(*args: Any, **kwargs: Any) -> None:
    raise Killed


@pytest.mark.parametrize("job", ["notification", "export", "sync"])
def test_a_claimed_jobs_message_is_due_when_its_lease_passes(job, personas, published, settings, monkeypatch,
                                                             tmp_path):
    """Publishing makes a message due again OUTBOX_REDELIVER_SECONDS later (120 s); a worker that claims
    its job makes it due when the job's lease passes (60 s), so a worker that dies is replaced about a
    lease after its death, not a whole re-send delay after the publish."""
    settings.OUTBOX_REDELIVER_SECONDS, settings.JOB_LEASE_SECONDS = 120, 60
    if job == "notification":
        [note] = notify(recipients=[personas["lead"]], subject="Decision", body="b")
        message = OutboxMessage.objects.get(task_name="clearance.deliver_notification")
        monkeypatch.setattr("clearance.notifications.send_mail", _dies)
        work = lambda: notification_deliver(notification_id=note.pk, outbox_id=message.pk)  # noqa: E731
        lease = lambda: Notification.objects.get(pk=note.pk).lease_until  # noqa: E731
    elif job == "export":
        settings.EXPORT_DIR = tmp_path
        export = export_request(actor=personas["auditor"], system=make_system(personas), kind="dossier")
        message = OutboxMessage.objects.get(task_name="governance.run_export")
        monkeypatch.setattr("governance.services.exports._context", _dies)
        work = lambda: export_run(export_id=export.pk, outbox_id=message.pk)  # noqa: E731
        lease = lambda: DocumentExport.objects.get(pk=export.pk).lease_until  # noqa: E731
    else:
        settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
        source = source_create(actor=personas["owner"], system=make_system(personas), kind="lm_eval", name="lm eval",
                               location=str(copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", tmp_path)))
        run, _ = sync_request(actor=personas["owner"], source=source)
        message = OutboxMessage.objects.get(task_name="catalog.sync_source", kwargs__run_id=run.pk)
        monkeypatch.setattr("catalog.services.evidence.source_config", _dies)
        work = lambda: sync_run_execute(run_id=run.pk, outbox_id=message.pk)  # noqa: E731
        lease = lambda: SyncRun.objects.get(pk=run.pk).lease_until  # noqa: E731

    assert outbox.relay_pending(ids=[message.pk]) == 1
    message.refresh_from_db()
    published_at = message.dispatched_at
    assert message.due_at == published_at + timedelta(seconds=120), "publishing: due again after the re-send delay"

    with pytest.raises(Killed):
        work()  # claimed, then the worker died mid-job
    message.refresh_from_db()
    lease_until = lease()
    assert lease_until is not None and message.completed_at is None
    assert message.due_at == lease_until, "due exactly when the lease passes"
    assert message.due_at < published_at + timedelta(seconds=70)

    assert outbox.outbox_sweep(now=lease_until - timedelta(seconds=1))["resent"] == 0, "the lease still holds"
    assert outbox.outbox_sweep(now=lease_until + timedelta(seconds=1))["resent"] == 1, "sent again as it passes"
    assert [p["outbox_id"] for p in published].count(message.pk) == 2
