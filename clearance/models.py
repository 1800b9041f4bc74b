"""Platform models shared by every app: the audit chain, the outbox, notifications and API tokens.

They live here, below catalog, intake and governance, because every app writes audit events and
outbox messages and the apps may only depend downwards (catalog imports neither intake nor
governance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class AuditHead(models.Model):
    """The single row that serializes the audit chain: writers lock it to append."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"


class AuditEvent(models.Model):
    """One append-only, hash-chained record of something that happened.

    ``hash`` is an HMAC-SHA256 under the key named by ``key_id`` (keys live in settings, never in the
    database); an empty ``key_id`` marks an event written before keying, hashed with plain SHA-256.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_repr = models.CharField(max_length=150)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    key_id = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"


class OutboxMessage(models.Model):
    """Work whose loss matters, written in the transaction that caused it and relayed to Celery.

    It is done when ``completed_at`` is set, by the task that did the work (in the transaction of
    its effect where it can), never by publishing: a message that is not completed by ``due_at`` is
    published again by the sweep, so the work happens at least once even if the broker loses it.
    """

    task_name = models.CharField(max_length=120)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it was last published (None: never yet).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # When the sweep should publish it (again) unless it is completed by then; a task whose work
    # runs long moves it on with its lease.
    due_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Publish attempts, failed ones included.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The id of the request or task that wrote the message, sent with the task whenever it is
    # published, so the task's log lines can be found from the request that caused it.
    origin_request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="outbox_open_due_idx", condition=models.Q(completed_at=None)),
            models.Index(fields=["completed_at"], name="outbox_completed_idx",
                         condition=models.Q(completed_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.task_name}({self.kwargs})"


class Notification(models.Model):
    """A message to one user: shown in the app and sent by email through the outbox."""

    class EmailStatus(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.QUEUED)
    # While SENDING: the sender's claim, renewed by its heartbeat. A sender that died stops renewing
    # and the next delivery takes the email back once it has passed.
    lease_until = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.subject}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def visible_to(self, user: User | AnonymousUser | None) -> ApiTokenQuerySet:
        # clearance.permissions reads ApiToken: imported here to keep the import one-way.
        from clearance.permissions import visible_tokens

        return visible_tokens(user, self)


class ApiToken(models.Model):
    """A bearer token for the API: only an HMAC digest of it is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Optional restriction to some systems (slugs; empty: every system the user may see). Slugs, not
    # a relation, so the platform app does not depend on the catalog.
    system_slugs = models.JSONField(default=list, blank=True)
    # Requests per minute for this token; empty: settings.GATE_RATE_LIMIT.
    rate_per_minute = models.PositiveIntegerField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (clr_{self.key_id}…)"


# Single sign-on's table lives with its code (clearance/sso/); imported here so Django registers it.
from clearance.sso.models import SsoIdentity  # noqa: E402, F401
