"""Every write to webhooks and their deliveries: keyword-only, checked, atomic, audited.

Audit records name the destination by scheme and host only: Slack and Teams put the webhook's
credential in the URL's path, and the audit trail is read by more people than the webhook pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.connectors.base import LocationRefused, check_public_url, host_allowed
from catalog.connectors.credentials import encrypt_secret
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.outbox import outbox_enqueue
from integrations import signing
from integrations.choices import SUBSCRIBABLE, DeliveryStatus, EventKind, WebhookFormat
from integrations.delivery import WEBHOOK_HOSTS
from integrations.events import DELIVER_TASK, emit
from integrations.models import Delivery, Webhook, WebhookEvent
from integrations.permissions import can_manage_webhooks

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MIN_SECRET_LENGTH = 24


@dataclass(frozen=True)
class Saved:
    """A saved webhook, and its secret when this save chose a new one in the app (shown once)."""

    webhook: Webhook
    secret: str = ""


def _require_admin(actor: User) -> None:
    if not can_manage_webhooks(actor):
        raise NotAllowed("only administrators manage webhooks")


def destination(url: str) -> str:
    """The URL without its path and query, for the audit trail and the logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def validate_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise DomainError("enter the URL the events are posted to", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DomainError("must start with https:// (or http:// for a host in WEBHOOK_ALLOWED_HOSTS)", field="url")
    if parts.username or parts.password:
        raise DomainError("must not carry a user name or password; use the signing secret", field="url")
    try:
        check_public_url(url, setting=WEBHOOK_HOSTS)
    except LocationRefused as exc:
        raise DomainError(str(exc), field="url") from exc
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and not host_allowed(host, parts.port or 80, WEBHOOK_HOSTS):
        raise DomainError("must use https://: events and their signatures are not sent in clear text", field="url")
    return url


def _validate(name: str, url: str, fmt: str, events: list[str]) -> dict[str, Any]:
    if not (name or "").strip():
        raise DomainError("give the webhook a name", field="name")
    if fmt not in WebhookFormat.values:
        raise DomainError(f"choose one of: {', '.join(str(f.label) for f in WebhookFormat)}", field="format")
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown:
        raise DomainError(f"unknown event kind(s): {', '.join(unknown)}", field="events")
    if not events:
        raise DomainError("choose at least one event", field="events")
    return {"name": name.strip()[:100], "url": validate_url(url), "format": fmt,
            "events": [kind.value for kind in SUBSCRIBABLE if kind.value in events]}


def _secret_fields(secret: str, secret_env: str) -> tuple[dict[str, str], str]:
    """The stored secret fields, and the secret to show once (empty when it lives in the environment)."""
    if secret_env:
        if not ENV_NAME.match(secret_env):
            raise DomainError("must be an environment variable name (letters, digits, underscores)",
                              field="secret_env")
        return {"secret_encrypted": "", "secret_env": secret_env}, ""
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise DomainError(f"must be at least {MIN_SECRET_LENGTH} characters (or leave it empty to generate one)",
                          field="secret")
    chosen = secret or signing.generate_secret()
    return {"secret_encrypted": encrypt_secret(chosen), "secret_env": ""}, chosen


def webhook_create(*, actor: User, name: str, url: str, format: str, events: list[str], active: bool = True,
                   secret: str = "", secret_env: str = "") -> Saved:
    """Register a webhook. With neither ``secret`` nor ``secret_env`` a secret is generated; the
    secret chosen here is returned once, for the page to show, and never again."""
    _require_admin(actor)
    fields = _validate(name, url, format, events)
    stored, shown = _secret_fields(secret.strip(), secret_env.strip())
    now = timezone.now()
    with transaction.atomic():
        webhook = Webhook.objects.create(active=active, created_by=actor, created_at=now, updated_at=now,
                                         secret_changed_at=now, **fields, **stored)
        audit_record(actor=actor, action="webhook.created", obj=webhook,
                     data={"destination": destination(webhook.url), "format": webhook.format,
                           "events": webhook.events, "active": webhook.active,
                           "secret": f"environment variable {webhook.secret_env}" if webhook.secret_env
                           else ("entered" if secret.strip() else "generated")})
    return Saved(webhook, shown)


def webhook_update(*, actor: User, webhook: Webhook, name: str, url: str, format: str, events: list[str],
                   active: bool, secret_env: str | None = None) -> Webhook:
    """Change a webhook; its secret changes only by ``webhook_rotate_secret`` (or by naming another
    environment variable here, for a secret that lives there)."""
    _require_admin(actor)
    fields = _validate(name, url, format, events) | {"active": active}
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        changed = sorted(key for key, value in fields.items() if getattr(locked, key) != value)
        for key, value in fields.items():
            setattr(locked, key, value)
        if secret_env is not None and secret_env.strip() and secret_env.strip() != locked.secret_env:
            stored, _ = _secret_fields("", secret_env.strip())
            for key, value in stored.items():
                setattr(locked, key, value)
            locked.secret_changed_at = timezone.now()
            changed.append("secret")
        if changed:
            locked.updated_at = timezone.now()
            locked.save()
            audit_record(actor=actor, action="webhook.updated", obj=locked,
                         data={"changed": changed, "destination": destination(locked.url),
                               "events": locked.events, "active": locked.active})
    return locked


def webhook_rotate_secret(*, actor: User, webhook: Webhook, secret: str = "") -> Saved:
    """A new secret (generated unless given), stored encrypted and returned once. Deliveries signed
    from now on use it; a receiver should accept both for the minutes it takes to switch."""
    _require_admin(actor)
    stored, shown = _secret_fields(secret.strip(), "")
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        for key, value in stored.items():
            setattr(locked, key, value)
        locked.secret_changed_at = locked.updated_at = timezone.now()
        locked.save()
        audit_record(actor=actor, action="webhook.secret_rotated", obj=locked,
                     data={"secret": "entered" if secret.strip() else "generated"})
    return Saved(locked, shown)


def webhook_delete(*, actor: User, webhook: Webhook) -> None:
    """Delete a webhook and its delivery log; the audit trail keeps that it existed and who removed it."""
    _require_admin(actor)
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        audit_record(actor=actor, action="webhook.deleted", obj=locked,
                     data={"name": locked.name, "destination": destination(locked.url),
                           "deliveries": locked.deliveries.count()})
        locked.delete()


def webhook_send_test(*, actor: User, webhook: Webhook) -> WebhookEvent:
    """Send a test event to this webhook alone, through the same outbox, task, signature and format
    as a real event (a switched-off webhook is refused: its deliveries would fail at once)."""
    _require_admin(actor)
    if not webhook.active:
        raise DomainError("the webhook is switched off; switch it on to send a test", field="active")
    with transaction.atomic():
        event = emit(kind=EventKind.TEST, subject=webhook, actor=actor, webhook_ids=[webhook.pk],
                     summary=f"A test event from Clearance to the webhook “{webhook.name}”.",
                     payload={"webhook": webhook.name, "format": webhook.get_format_display()})
        if event is None:
            raise DomainError("the test event could not be recorded; see the server log")
        audit_record(actor=actor, action="webhook.test_sent", obj=webhook, data={"event": str(event.uuid)})
    return event


def delivery_redeliver(*, actor: User, delivery: Delivery) -> Delivery:
    """Send a failed delivery again, from a fresh attempt count (the same delivery id, so a receiver
    that did get it after all can drop the repeat)."""
    _require_admin(actor)
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().select_related("webhook").get(pk=delivery.pk)
        if locked.status != DeliveryStatus.FAILED:
            raise InvalidTransition(f"only a failed delivery can be sent again; this one is "
                                    f"{locked.get_status_display().lower()}")
        now = timezone.now()
        Delivery.objects.filter(pk=locked.pk).update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
                                                     lease_until=None, error="")
        outbox_enqueue(task_name=DELIVER_TASK, delivery_id=locked.pk)
        audit_record(actor=actor, action="webhook.redelivered", obj=locked.webhook,
                     data={"delivery": str(locked.uuid), "attempts_before": locked.attempts})
        locked.refresh_from_db()
    return locked
