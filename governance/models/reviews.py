"""Reviews of requests and systems, and the reminders sent about them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.models.systems import AISystem
from governance.choices import ReviewStatus
from governance.permissions import queue_reviews, visible_reviews
from governance.policy.reviews import kind_label
from intake.models import UseCaseRequest


class ReviewQuerySet(models.QuerySet["Review"]):
    def visible_to(self, user: User | AnonymousUser) -> ReviewQuerySet:
        """The entry point of every read; who sees what is decided in governance.permissions."""
        return visible_reviews(user, self)

    def queue_for(self, user: User | AnonymousUser, kind: str) -> ReviewQuerySet:
        return queue_reviews(user, kind, self)


class Review(models.Model):
    """One review of a request (or a system) by one function, with its own SLA."""

    # One of the kinds in the review policy (policies/reviews.yaml); services check it.
    kind = models.CharField(max_length=20)
    request = models.ForeignKey(
        UseCaseRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    system = models.ForeignKey(AISystem, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews")
    status = models.CharField(max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    conditions = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What an approval is pinned to: a hash of the answers, the model and the model card version,
    # with the snapshot it was computed from (to show what changed when it lapses).
    fingerprint = models.CharField(max_length=64, blank=True)
    pinned = models.JSONField(default=dict, blank=True)
    lapsed_at = models.DateTimeField(null=True, blank=True)
    lapse_diff = models.JSONField(default=list, blank=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(request__isnull=False) | Q(system__isnull=False), name="review_has_target"
            ),
            # One live review per kind and request: opening twice must not split the decision.
            models.UniqueConstraint(
                fields=["request", "kind"],
                condition=Q(status__in=["open", "changes_requested", "approved"]) & Q(request__isnull=False),
                name="review_one_live_per_kind",
            ),
        ]
        indexes = [models.Index(fields=["kind", "status", "due_at"])]

    def __str__(self) -> str:
        target = self.request or self.system
        return f"{self.get_kind_display()} review of {target}"

    def get_absolute_url(self) -> str:
        return reverse("review-detail", kwargs={"pk": self.pk})

    def get_kind_display(self) -> str:
        return kind_label(self.kind)


class ReviewReminder(models.Model):
    """One reminder sent for one review, one reason and one period: the key makes reminders idempotent."""

    class Reason(models.TextChoices):
        OVERDUE = "overdue", "Review overdue"
        EXPIRING = "expiring", "Approval about to expire"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="reminders")
    reason = models.CharField(max_length=10, choices=Reason.choices)
    period = models.CharField(max_length=20)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "reason", "period"], name="review_reminder_once_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.reason} reminder for review {self.review_id} ({self.period})"
