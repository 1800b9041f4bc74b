"""Event kinds, message formats and delivery states of outgoing webhooks."""

from __future__ import annotations

from django.db import models


class EventKind(models.TextChoices):
    REQUEST_SUBMITTED = "request.submitted", "Request submitted"
    REVIEW_DECIDED = "review.decided", "Review decided"
    APPROVAL_LAPSED = "approval.lapsed", "Approval lapsed"
    GATE_BLOCKED = "gate.blocked", "Gate blocked a production deploy"
    EVIDENCE_STALE = "evidence.stale", "Evidence went stale"
    INCIDENT_OPENED = "incident.opened", "Incident opened"
    # Sent only by the "Send test" button, to the one webhook it was pressed for.
    TEST = "webhook.test", "Test event"


# What an administrator may subscribe a webhook to (the test event goes only where it is sent).
SUBSCRIBABLE = [kind for kind in EventKind if kind != EventKind.TEST]


class WebhookFormat(models.TextChoices):
    GENERIC = "generic", "Generic JSON (signed)"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams incoming webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


# A delivery in one of these states is waiting for an attempt.
WAITING = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRYING})
# Nothing more happens to these unless an administrator redelivers a failed one.
FINISHED = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})
