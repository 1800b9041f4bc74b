"""Sending one delivery: claim it, build and sign its body, post it under the server-side-fetch
rules, and record the answer (delivered, a retry with exponential backoff, or failed).

The destination obeys the evidence sources' rules, by the same code (``catalog.connectors.base``):
its host is resolved and every address checked (no loopback, link-local, private or multicast unless
WEBHOOK_ALLOWED_HOSTS lists it) and the connection goes to the checked address literal, so a DNS
answer that changes after the form was saved (rebinding) cannot move it inside. Redirects are never
followed; timeouts bound each phase; at most WEBHOOK_MAX_RESPONSE_BYTES of the answer are read.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.connectors.base import LocationRefused, SourceError, pinned_request
from catalog.connectors.credentials import resolve_secret
from clearance.outbox import outbox_complete, outbox_defer, outbox_due_with_lease
from integrations import signing
from integrations.choices import FINISHED, WAITING, DeliveryStatus
from integrations.formats import render
from integrations.models import Delivery, Webhook

log = logging.getLogger(__name__)

WEBHOOK_HOSTS = "WEBHOOK_ALLOWED_HOSTS"
USER_AGENT = "Clearance-Webhooks/1"
# Answers that say "try again later"; any other 4xx says the request itself is wrong, and repeating
# it would only repeat the refusal.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class SendFailed(Exception):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.excerpt = excerpt


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str
    duration_ms: float


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: base, doubling, capped."""
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_SECONDS))


def _lease(now: datetime) -> datetime:
    # Connect, send and read each have the timeout; the lease outlasts all three with room to record.
    return now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 4 + 15)


def webhook_secret(webhook: Webhook) -> str:
    try:
        return resolve_secret(encrypted=webhook.secret_encrypted, env_name=webhook.secret_env)
    except SourceError as exc:
        raise SendFailed(f"the signing secret cannot be read: {exc}", retryable=True) from exc


_client: httpx.Client | None = None
_client_pid = 0


def _http() -> httpx.Client:
    """One client per process, made on first use: building one loads the CA bundle (about 15 ms,
    far more on a busy host), and a shared one keeps connections to a receiver alive between
    deliveries. Made after a fork, never inherited across one (Celery's prefork pool)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})
        _client_pid = os.getpid()
    return _client


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` once, under the fetch rules; raises SendFailed with a readable reason."""
    netloc = urlsplit(url).netloc
    started = time.perf_counter()
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    client = _http()
    try:
        request = pinned_request(client, "POST", url, setting=WEBHOOK_HOSTS, content=body, headers=headers,
                                 timeout=httpx.Timeout(timeout))
    except LocationRefused as exc:
        raise SendFailed(f"refused: {exc}", retryable=False) from exc
    except SourceError as exc:  # the name does not resolve (now): perhaps later
        raise SendFailed(str(exc), retryable=True) from exc
    try:
        response = client.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise SendFailed(f"{netloc} did not answer within {timeout:g} s", retryable=True) from exc
    except httpx.HTTPError as exc:
        raise SendFailed(f"could not reach {netloc}: {exc}", retryable=True) from exc
    try:
        buf = bytearray()
        for chunk in response.iter_bytes():
            buf.extend(chunk)
            if len(buf) >= settings.WEBHOOK_MAX_RESPONSE_BYTES:
                break  # enough to show; the rest is not read
    except httpx.TimeoutException as exc:
        raise SendFailed(f"{netloc} stopped answering mid-response", retryable=True) from exc
    except httpx.HTTPError as exc:
        raise SendFailed(f"reading the answer of {netloc} failed: {exc}", retryable=True) from exc
    finally:
        response.close()
    excerpt = bytes(buf[:2000]).decode("utf-8", "replace").strip()[:500]
    status = response.status_code
    duration = (time.perf_counter() - started) * 1000
    if response.is_redirect or 300 <= status < 400:
        where = response.headers.get("location", "")
        raise SendFailed(f"{netloc} answered HTTP {status} (a redirect to {where[:200] or 'nowhere'}); "
                         "webhooks never follow redirects: set the final URL", retryable=False, status=status)
    if status >= 400:
        retryable = status >= 500 or status in RETRYABLE_4XX
        raise SendFailed(f"{netloc} answered HTTP {status}", retryable=retryable, status=status, excerpt=excerpt)
    return Answer(status=status, excerpt=excerpt, duration_ms=duration)


def delivery_body(delivery: Delivery) -> bytes:
    data = render(delivery.webhook.format, delivery.event, str(delivery.uuid))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def delivery_headers(delivery: Delivery, body: bytes, secret: str, attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Clearance-Delivery": str(delivery.uuid),
        "Clearance-Event": delivery.event.kind,
        "Clearance-Attempt": str(attempt),
        signing.HEADER: signing.signature_header(secret, body),
    }


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: float | None = None


def delivery_attempt(*, delivery_id: int, outbox_id: int | None = None) -> Outcome | None:
    """One attempt at a delivery; None when there was nothing to claim (delivered, failed, not yet
    due, or another worker holds it), so a duplicate message does nothing. Never raises for the
    receiver's sake: its failures are recorded on the row and answered with ``retry_in``."""
    now = timezone.now()
    lease = _lease(now)
    claimed = Delivery.objects.filter(
        Q(status__in=WAITING, next_attempt_at__lte=now) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now),
        pk=delivery_id,
    ).update(status=DeliveryStatus.SENDING, lease_until=lease, attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        row = Delivery.objects.filter(pk=delivery_id).values_list("status", "next_attempt_at").first()
        if row is None or row[0] in FINISHED:
            outbox_complete(message_id=outbox_id)
        elif row[0] in WAITING and row[1] is not None:
            # Early (a re-sent message): the sweep sends it again once the attempt is due.
            outbox_defer(message_id=outbox_id, until=row[1] + timedelta(seconds=5))
        return None
    outbox_due_with_lease(message_id=outbox_id, lease_until=lease)
    delivery = Delivery.objects.select_related("webhook", "event").get(pk=delivery_id)
    try:
        if not delivery.webhook.active:
            raise SendFailed("the webhook is switched off", retryable=False)
        secret = webhook_secret(delivery.webhook)
        body = delivery_body(delivery)
        answer = post(delivery.webhook.url, body, delivery_headers(delivery, body, secret, delivery.attempts))
    except SendFailed as failure:
        return _failed(delivery, failure, outbox_id)
    except Exception as exc:  # a bug must not leave the row SENDING until its lease passes
        log.exception("webhooks: delivery %s raised", delivery.uuid)
        return _failed(delivery, SendFailed(f"internal error: {exc}", retryable=True), outbox_id)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), response_code=answer.status,
            response_excerpt=answer.excerpt, duration_ms=answer.duration_ms, error="", lease_until=None,
            next_attempt_at=None)
        outbox_complete(message_id=outbox_id)
    return Outcome(DeliveryStatus.DELIVERED)


def _failed(delivery: Delivery, failure: SendFailed, outbox_id: int | None) -> Outcome:
    now = timezone.now()
    last = not failure.retryable or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS
    fields = {"response_code": failure.status, "response_excerpt": failure.excerpt[:500],
              "error": failure.message[:2000], "lease_until": None}
    with transaction.atomic():
        if last:
            Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.FAILED, next_attempt_at=None, **fields)
            outbox_complete(message_id=outbox_id)
            log.warning("webhooks: delivery %s to %s failed after %d attempt(s): %s", delivery.uuid,
                        delivery.webhook.name, delivery.attempts, failure.message)
            return Outcome(DeliveryStatus.FAILED)
        wait = backoff(delivery.attempts)
        due = now + wait
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.RETRYING, next_attempt_at=due, **fields)
        # The task retries itself after ``wait``; should that message be lost, the outbox sweep
        # publishes this one again a little after the attempt is due.
        outbox_defer(message_id=outbox_id, until=due + timedelta(seconds=max(5, wait.total_seconds())))
    return Outcome(DeliveryStatus.RETRYING, retry_in=wait.total_seconds())
