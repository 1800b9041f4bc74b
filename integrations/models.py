"""Outgoing webhooks, the events they are sent, and one delivery per webhook and event.

A delivery is tracked work (healthchecks style): its row says whether it is waiting, being sent,
waiting for a retry, delivered or failed, with its attempts, the receiver's last answer and when the
next attempt is due. The page reads this row; nobody reads the broker to show status."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.urls import reverse

from integrations.choices import DeliveryStatus, EventKind, WebhookFormat
from integrations.permissions import visible_webhooks

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class WebhookQuerySet(models.QuerySet["Webhook"]):
    def visible_to(self, user: User | AnonymousUser) -> WebhookQuerySet:
        return visible_webhooks(user, self)


class Webhook(models.Model):
    name = models.CharField(max_length=100)
    # Checked by the services (scheme, host, the fetch rules), not by a model validator.
    url = models.CharField(max_length=1000)
    format = models.CharField(max_length=10, choices=WebhookFormat.choices, default=WebhookFormat.GENERIC)
    # Event kinds (EventKind values) this webhook is sent.
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    # The signing secret: Fernet-encrypted (EVIDENCE_SECRET_KEY, as evidence-source credentials), or
    # the name of an environment variable that holds it. Never shown back after it was first shown.
    secret_encrypted = models.TextField(blank=True)
    secret_env = models.CharField(max_length=100, blank=True)
    secret_changed_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("webhook-detail", kwargs={"pk": self.pk})

    def event_labels(self) -> str:
        labels = dict(EventKind.choices)
        return ", ".join(str(labels.get(kind, kind)) for kind in self.events)


class WebhookEvent(models.Model):
    """Something that happened, as the webhooks subscribed to its kind are told it. Written in the
    transaction of the change it reports, so it exists if and only if that change committed."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=40, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_repr = models.CharField(max_length=150, blank=True)
    subject_type = models.CharField(max_length=100, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    subject_repr = models.CharField(max_length=300, blank=True)
    subject_url = models.CharField(max_length=500, blank=True)
    summary = models.TextField(blank=True)
    payload = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject_repr}"


class Delivery(models.Model):
    # Sent as the Clearance-Delivery header and kept across retries: receivers drop a repeat by it.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While SENDING: the attempt is this worker's until then; past it, another may take it back.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="delivery_once_per_webhook_event")]
        indexes = [models.Index(fields=["webhook", "status", "-created_at"], name="delivery_log_idx")]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"delivery {self.uuid} of {self.event_id} to {self.webhook_id}"
