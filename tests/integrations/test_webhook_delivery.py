"""Deliveries against a real receiver on 127.0.0.1: signed as documented, retried with backoff,
never sent twice once delivered, refused where the fetch rules say so. The attempts run in this
process (``delivery_attempt``, what the Celery task calls); test_webhook_worker.py runs them in a worker."""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from clearance.models import OutboxMessage
from integrations.choices import DeliveryStatus, EventKind
from integrations.delivery import backoff, delivery_attempt
from integrations.events import emit
from integrations.models import Delivery
from integrations.services import delivery_redeliver
from tests.integrations.conftest import hook
from tests.integrations.receiver import Receiver, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_webhooks")]


def _event(admin: Any, webhook: Any, summary: str = "Something happened") -> Delivery:
    emit(kind=EventKind.INCIDENT_OPENED, subject=webhook, actor=admin, summary=summary,
         payload={"severity": "high", "system": "support-copilot"})
    return Delivery.objects.filter(webhook=webhook).latest("pk")


def _due_now(delivery: Delivery) -> None:
    """Make a waiting retry due at once instead of sleeping out the backoff."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_delivery_is_signed_as_documented_and_sent_once(admin, receiver):
    webhook, secret = hook(admin, receiver.url)
    receiver.secret = secret
    delivery = _event(admin, webhook)
    message = OutboxMessage.objects.get(task_name="integrations.deliver_webhook", kwargs__delivery_id=delivery.pk)

    outcome = delivery_attempt(delivery_id=delivery.pk, outbox_id=message.pk)
    assert outcome is not None and outcome.status == DeliveryStatus.DELIVERED
    [got] = receiver.received
    assert got.verified, "the receiver verified the signature with the documented function"
    assert got.headers["clearance-delivery"] == str(delivery.uuid)
    assert got.headers["clearance-event"] == "incident.opened"
    assert got.headers["clearance-attempt"] == "1"
    assert got.headers["content-type"].startswith("application/json")
    body = json.loads(got.body)
    assert body["type"] == "incident.opened" and body["delivery_id"] == str(delivery.uuid)
    assert body["data"] == {"severity": "high", "system": "support-copilot"}
    assert body["actor"] == {"username": "admin"} and body["summary"] == "Something happened"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    assert delivery.response_excerpt == '{"ok": true}' and delivery.error == ""
    assert OutboxMessage.objects.get(pk=message.pk).completed_at is not None

    # A redelivered task message (the broker gave it twice, the sweep re-sent it) sends nothing.
    assert delivery_attempt(delivery_id=delivery.pk, outbox_id=message.pk) is None
    assert len(receiver.received) == 1


def test_a_tampered_body_or_wrong_secret_does_not_verify(admin, receiver):
    webhook, secret = hook(admin, receiver.url)
    receiver.secret = secret
    delivery_attempt(delivery_id=_event(admin, webhook).pk)
    [got] = receiver.received
    header = got.headers["clearance-signature"]
    assert receiver.verify(secret, header, got.body)
    assert not receiver.verify(secret, header, got.body.replace(b"high", b"low!"))
    assert not receiver.verify(secret + "x", header, got.body)
    t = int(header.split(",")[0][2:])
    old = header.replace(f"t={t}", f"t={t - 301}")
    assert not receiver.verify(secret, old, got.body), "outside the replay window (and the signature no longer matches)"


def test_500_then_200_is_retried_with_backoff_and_delivered_once(admin, receiver):
    receiver.script = [500]
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    before = timezone.now()
    outcome = delivery_attempt(delivery_id=delivery.pk)
    assert outcome is not None and outcome.status == DeliveryStatus.RETRYING and outcome.retry_in == 1
    delivery.refresh_from_db()
    assert delivery.status == "retrying" and delivery.response_code == 500 and "HTTP 500" in delivery.error
    assert before + timedelta(seconds=1) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=1)

    assert delivery_attempt(delivery_id=delivery.pk) is None, "not due yet: nothing is sent early"
    time.sleep(1.1)
    outcome = delivery_attempt(delivery_id=delivery.pk)
    assert outcome is not None and outcome.status == DeliveryStatus.DELIVERED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.error) == ("delivered", 2, 200, "")
    assert receiver.deliveries() == [str(delivery.uuid)] * 2, "the same delivery id on every attempt"
    assert [r.headers["clearance-attempt"] for r in receiver.received] == ["1", "2"]
    assert all(r.verified for r in receiver.received)


def test_backoff_doubles_up_to_its_cap(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS = 30, 3600
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 20)] == [30, 60, 120, 240, 1920, 3600, 3600]


def test_a_receiver_that_stays_down_fails_after_the_last_attempt_and_can_be_redelivered(admin, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    port = free_port()  # nothing listens there
    webhook, secret = hook(admin, f"http://127.0.0.1:{port}/hook")
    delivery = _event(admin, webhook)
    waits = []
    for _ in range(3):
        outcome = delivery_attempt(delivery_id=delivery.pk)
        assert outcome is not None
        waits.append(outcome.retry_in)
        _due_now(delivery)
    assert waits == [1, 2, None], "1 s, 2 s, then no more: failed"
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3 and "could not reach" in delivery.error
    assert delivery_attempt(delivery_id=delivery.pk) is None

    up = Receiver(secret=secret, port=port).start()
    try:
        delivery_redeliver(actor=admin, delivery=delivery)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.DELIVERED
        assert len(up.received) == 1 and up.received[0].verified
        assert up.deliveries() == [str(delivery.uuid)], "a redelivery keeps the delivery id"
    finally:
        up.stop()


def test_a_slow_receiver_times_out_and_is_retried(admin, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    receiver.script = [("slow", 2.5, 200)]
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    started = time.monotonic()
    outcome = delivery_attempt(delivery_id=delivery.pk)
    assert time.monotonic() - started < 2.4, "the sender gave up at its timeout, not when the receiver answered"
    assert outcome is not None and outcome.status == DeliveryStatus.RETRYING
    delivery.refresh_from_db()
    assert "did not answer within 1 s" in delivery.error and delivery.response_code is None


def test_a_redirect_is_not_followed_and_fails_at_once(admin, receiver):
    elsewhere = Receiver().start()
    try:
        receiver.script = [("redirect", elsewhere.url)]
        webhook, receiver.secret = hook(admin, receiver.url)
        delivery = _event(admin, webhook)
        outcome = delivery_attempt(delivery_id=delivery.pk)
        assert outcome is not None and outcome.status == DeliveryStatus.FAILED
        delivery.refresh_from_db()
        assert delivery.response_code == 302 and "never follow redirects" in delivery.error
        assert elsewhere.url[:30] in delivery.error
        assert elsewhere.received == [] and len(receiver.received) == 1
    finally:
        elsewhere.stop()


def test_a_client_error_is_not_retried(admin, receiver):
    receiver.script = [404]
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.response_code == 404 and delivery.response_excerpt == "no thanks"


def test_a_too_many_requests_answer_is_retried(admin, receiver):
    receiver.script = [429]
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.RETRYING


def test_the_answer_read_is_capped(admin, receiver, settings):
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 1024
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.DELIVERED
    delivery.refresh_from_db()
    assert len(delivery.response_excerpt) <= 500


def test_an_address_that_turned_internal_after_saving_is_refused_at_send_time(admin, receiver, settings,
                                                                             monkeypatch):
    """DNS rebinding: the name was public when the form was saved, and points at 127.0.0.1 when the
    delivery is sent. The send resolves again, refuses, and never connects."""
    settings.WEBHOOK_ALLOWED_HOSTS = []
    answer = {"address": "93.184.216.34"}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["address"], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    webhook, receiver.secret = hook(admin, f"https://hooks.rebind.example:{receiver.port}/hooks/clearance")
    answer["address"] = "127.0.0.1"
    delivery = _event(admin, webhook)
    outcome = delivery_attempt(delivery_id=delivery.pk)
    assert outcome is not None and outcome.status == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert "loopback" in delivery.error and "WEBHOOK_ALLOWED_HOSTS" in delivery.error
    assert receiver.received == []


def test_a_private_address_is_refused_when_not_allowed(admin, receiver, settings):
    """Saved while 127.0.0.1 was allowed, sent after the allowance was withdrawn."""
    webhook, receiver.secret = hook(admin, receiver.url)
    settings.WEBHOOK_ALLOWED_HOSTS = []
    delivery = _event(admin, webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert "127.0.0.1 is a loopback address" in delivery.error
    assert receiver.received == []


def test_evidence_allowance_does_not_open_webhooks(admin, receiver, settings):
    webhook, receiver.secret = hook(admin, receiver.url)
    settings.WEBHOOK_ALLOWED_HOSTS = []
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]
    delivery = _event(admin, webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.FAILED
    assert receiver.received == []


def test_a_secret_read_from_the_environment_signs(admin, receiver, monkeypatch):
    monkeypatch.setenv("CLEARANCE_TEST_WEBHOOK_SECRET", "s3cret-from-the-environment-0123456789")
    webhook, shown = hook(admin, receiver.url, secret_env="CLEARANCE_TEST_WEBHOOK_SECRET")
    assert shown == "" and webhook.secret_encrypted == ""
    receiver.secret = "s3cret-from-the-environment-0123456789"
    assert delivery_attempt(delivery_id=_event(admin, webhook).pk).status == DeliveryStatus.DELIVERED
    assert receiver.received[0].verified
    monkeypatch.delenv("CLEARANCE_TEST_WEBHOOK_SECRET")
    delivery = _event(admin, webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.RETRYING
    delivery.refresh_from_db()
    assert "CLEARANCE_TEST_WEBHOOK_SECRET" in delivery.error and len(receiver.received) == 1


def test_a_switched_off_webhook_is_sent_nothing(admin, receiver):
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    type(webhook).objects.filter(pk=webhook.pk).update(active=False)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.FAILED
    assert receiver.received == []
    assert _event(admin, webhook) == delivery, "no new delivery for a switched-off webhook"


def test_a_dead_workers_attempt_is_taken_back_after_its_lease(admin, receiver):
    webhook, receiver.secret = hook(admin, receiver.url)
    delivery = _event(admin, webhook)
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", attempts=1,
                                                   lease_until=timezone.now() + timedelta(seconds=30))
    assert delivery_attempt(delivery_id=delivery.pk) is None, "its lease still runs"
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.DELIVERED
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and len(receiver.received) == 1
