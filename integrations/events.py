"""The one way any app reports an event to outgoing webhooks: ``emit``.

Call it inside the transaction of the change it reports, after the change (a service does, next to
its audit record)::

    from integrations.events import emit
    from integrations.choices import EventKind

    emit(kind=EventKind.INCIDENT_OPENED, subject=incident, actor=actor,
         summary=f"{incident.reference} {incident.title}",
         payload={"severity": incident.severity, "systems": [s.slug for s in systems]})

(``risks.services.incidents.incident_open`` makes this very call.)

It writes the event, one delivery per active webhook subscribed to the kind, and one outbox message
per delivery (three INSERTs however many webhooks), all in the caller's transaction: the event exists if and only if the change committed,
and nothing is sent before the commit. Sending happens later, in a Celery worker
(``integrations.deliver_webhook``), so a receiver that is down or slow never delays or fails the
caller. With no webhook subscribed to the kind, it costs one query on a small table.

``payload`` is the kind's own data (JSON-able; dates become ISO strings): receivers of the generic
format get it as ``data``, and chat formats show its scalar values as labelled facts. ``subject`` is
the model instance the event is about; its ``get_absolute_url`` becomes the link.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from clearance.outbox import outbox_enqueue_many
from integrations.choices import EventKind
from integrations.models import Delivery, Webhook, WebhookEvent

log = logging.getLogger(__name__)

DELIVER_TASK = "integrations.deliver_webhook"


def subscribed(kind: str) -> list[int]:
    """Ids of the active webhooks subscribed to ``kind``. The subscription list is filtered here, not
    in SQL: SQLite's JSON fields cannot answer "contains", and the table holds a handful of rows."""
    return [pk for pk, kinds in Webhook.objects.filter(active=True).values_list("pk", "events") if kind in kinds]


def _subject_fields(subject: models.Model | None) -> dict[str, str]:
    if subject is None:
        return {}
    url = ""
    get_url = getattr(subject, "get_absolute_url", None)
    if callable(get_url):
        try:
            url = f"{settings.SITE_URL}{get_url()}"
        except Exception:  # a subject without a page of its own is still worth reporting
            url = ""
    return {"subject_type": subject._meta.label_lower, "subject_id": str(subject.pk),
            "subject_repr": str(subject)[:300], "subject_url": url[:500]}


def emit(*, kind: EventKind | str, subject: models.Model | None, payload: dict[str, Any] | None = None,
         actor: User | None = None, summary: str = "", webhook_ids: list[int] | None = None) -> WebhookEvent | None:
    """Record an event for the webhooks subscribed to its kind (or for ``webhook_ids`` only: the test
    button) and queue one delivery each; returns the event, or None when no webhook wants it.

    A failure here (a bug in a payload, a table missing) is logged and swallowed inside a savepoint:
    telling the receivers must never undo the change being reported."""
    kind = EventKind(kind)
    targets = subscribed(kind) if webhook_ids is None else webhook_ids
    if not targets:
        return None
    try:
        with transaction.atomic():
            now = timezone.now()
            known = actor if actor is not None and actor.pk else None
            event = WebhookEvent.objects.create(
                kind=kind, occurred_at=now, actor=known, actor_repr=known.get_username() if known else "",
                summary=summary[:2000], payload=json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder)),
                **_subject_fields(subject),
            )
            deliveries = Delivery.objects.bulk_create(
                [Delivery(webhook_id=pk, event=event, created_at=now, next_attempt_at=now) for pk in targets])
            outbox_enqueue_many(task_name=DELIVER_TASK, kwargs_list=[{"delivery_id": d.pk} for d in deliveries])
    except Exception:
        log.exception("webhooks: could not record the %s event for %s", kind, subject)
        return None
    return event
