"""The real path: a service emits in its transaction, the outbox relays after the commit, a real
Celery worker process (on the configured broker, against the test database) sends to a real receiver
on 127.0.0.1, which verifies the signature. A receiver that is down is retried with backoff, never
holds up the action, and gets the delivery exactly once when it comes up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from clearance.celery import app as celery_app
from clearance.models import OutboxMessage
from intake import services as intake
from integrations.models import Delivery
from tests.conftest import answers
from tests.integrations.conftest import hook
from tests.integrations.receiver import Receiver, free_port
from tests.processes import Process, base_env, celery_worker
from tests.test_celery_worker import database_url, wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.usefixtures("local_webhooks")]


@pytest.fixture
def webhook_worker(transactional_db: None) -> Iterator[Process]:
    queue = f"clearance-webhooks-{uuid.uuid4().hex[:8]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = base_env(DATABASE_URL=database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   CLEARANCE_VAR_DIR=str(settings.VAR_DIR), WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
                   WEBHOOK_RETRY_BASE_SECONDS="1", WEBHOOK_RETRY_MAX_SECONDS="2", WEBHOOK_TIMEOUT_SECONDS="2",
                   EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    worker = celery_worker(queue, env, name="webhooks")
    try:
        yield worker
    finally:
        celery_app.conf.task_default_queue = default_queue
        worker.stop()


def _submit(personas: dict[str, Any]) -> float:
    req = intake.request_create_draft(requester=personas["requester"], **answers(title="Invoice coding"))
    started = time.perf_counter()
    intake.request_submit(actor=personas["requester"], request=req)
    return time.perf_counter() - started


def test_a_receiver_down_then_up_gets_the_delivery_once_after_backoff(webhook_worker, admin, personas):
    port = free_port()
    webhook, secret = hook(admin, f"http://127.0.0.1:{port}/hooks/clearance", events=["request.submitted"])
    took = _submit(personas)
    delivery = Delivery.objects.get(webhook=webhook)
    # The submission wrote rows and published a message; no attempt runs in its process (a loose
    # bound: on the shared machine the submission itself takes a second or two).
    assert took < 10

    def failed_twice() -> bool:
        row = Delivery.objects.get(pk=delivery.pk)
        return row.attempts >= 2 and row.status == "retrying"

    wait_for(failed_twice, 60, "two failed attempts" + webhook_worker.tail())
    delivery.refresh_from_db()
    assert "could not reach" in delivery.error and delivery.next_attempt_at is not None

    receiver = Receiver(secret=secret, port=port).start()
    try:
        wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == "delivered", 60,
                 "the delivery once the receiver is up" + webhook_worker.tail())
        time.sleep(2)  # a duplicate would arrive now
        assert len(receiver.received) == 1 and receiver.received[0].verified
        assert receiver.deliveries() == [str(delivery.uuid)]
        delivery.refresh_from_db()
        assert delivery.attempts >= 3 and delivery.response_code == 200
        log = "".join(webhook_worker.lines)
        assert "Retry in 1.0s" in log and "Retry in 2.0s" in log, "waits doubled (capped at 2 s here)"
        message = OutboxMessage.objects.get(task_name="integrations.deliver_webhook", kwargs__delivery_id=delivery.pk)
        assert message.completed_at is not None

        # The same task message again (a broker redelivery): claimed by nobody, sent to nobody.
        celery_app.send_task("integrations.deliver_webhook", kwargs={"delivery_id": delivery.pk})
        wait_for(lambda: "nothing to do" in "".join(webhook_worker.lines), 30, "the duplicate to be handled")
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


def test_500_then_200_through_the_worker(webhook_worker, admin, personas):
    receiver = Receiver(script=[500]).start()
    try:
        webhook, receiver.secret = hook(admin, receiver.url, fmt="slack", events=["request.submitted"])
        _submit(personas)
        delivery = Delivery.objects.get(webhook=webhook)
        wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == "delivered", 60,
                 "delivery after one 500" + webhook_worker.tail())
        assert [r.headers["clearance-attempt"] for r in receiver.received] == ["1", "2"]
        assert all(r.verified for r in receiver.received)
        assert b'"blocks"' in receiver.received[-1].body
    finally:
        receiver.stop()
