"""Governance models: reviews, decision records, readiness verdicts and gate checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.models import AISystem
from clearance.models import ApiToken
from clearance.roles import has_role, reads_portfolio, roles_of
from governance.choices import DecisionStatus, ReviewStatus, Verdict, WaiverStatus
from governance.review_policy import kind_label, kind_role, kinds_for_roles
from intake.models import UseCaseRequest


class ReviewQuerySet(models.QuerySet["Review"]):
    def visible_to(self, user: Any) -> ReviewQuerySet:
        if reads_portfolio(user):
            return self.all()
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        kinds = kinds_for_roles(roles_of(user))
        return self.filter(
            Q(kind__in=kinds) | Q(request__requester=user) | Q(assignee=user)
            | Q(system__business_owner=user) | Q(system__technical_owner=user) | Q(system__risk_owner=user)
        )

    def queue_for(self, user: Any, kind: str) -> ReviewQuerySet:
        role = kind_role(kind)
        if not ((role is not None and has_role(user, role)) or reads_portfolio(user)):
            return self.none()
        return self.filter(kind=kind)


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


class DecisionRecordQuerySet(models.QuerySet["DecisionRecord"]):
    def visible_to(self, user: Any) -> DecisionRecordQuerySet:
        return self.filter(system__in=AISystem.objects.visible_to(user))


class DecisionRecord(models.Model):
    """An architecture-decision-style record; accepted records change only by being superseded."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="decision_records")
    title = models.CharField(max_length=200)
    context = models.TextField()
    options = models.TextField(blank=True)
    decision = models.TextField()
    consequences = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=DecisionStatus.choices, default=DecisionStatus.PROPOSED)
    deciders = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # A newer record names the one it replaces; several proposals may name the same record, the
    # first accepted wins (the service locks the old record and checks it is still accepted).
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    request = models.ForeignKey(
        UseCaseRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="decision_records"
    )
    facts_snapshot = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = DecisionRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ADR-{self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("decision-detail", kwargs={"pk": self.pk})

    @property
    def reference(self) -> str:
        return f"ADR-{self.pk}"

    @property
    def is_protected(self) -> bool:
        return self.status != DecisionStatus.PROPOSED


class ReadinessVerdict(models.Model):
    """The last computed readiness of one system for one environment (portfolio view, sweeps)."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="verdicts")
    environment = models.CharField(max_length=50)
    verdict = models.CharField(max_length=5, choices=Verdict.choices)
    policy_name = models.CharField(max_length=100)
    policy_version = models.CharField(max_length=64)
    requirements = models.JSONField(default=list)
    computed_at = models.DateTimeField()
    # When the first piece of evidence or approval ages out; the periodic sweep recomputes then.
    valid_until = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "environment"], name="verdict_one_per_env")]

    def __str__(self) -> str:
        return f"{self.system} {self.environment}: {self.verdict}"


class GateCheckQuerySet(models.QuerySet["GateCheck"]):
    def visible_to(self, user: Any) -> GateCheckQuerySet:
        return self.filter(system__in=AISystem.objects.visible_to(user))


class GateCheck(models.Model):
    """One call of the deployment gate, as CI made it, with the answer it got."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="gate_checks")
    environment = models.CharField(max_length=50)
    version = models.CharField(max_length=200, blank=True)
    commit = models.CharField(max_length=100, blank=True)
    pipeline_url = models.URLField(max_length=500, blank=True)
    verdict = models.CharField(max_length=5, choices=Verdict.choices)
    policy_name = models.CharField(max_length=100)
    policy_version = models.CharField(max_length=64)
    requirements = models.JSONField(default=list)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    checked_at = models.DateTimeField(db_index=True)
    duration_ms = models.FloatField(default=0)

    objects = GateCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["system", "environment", "-checked_at"])]

    def __str__(self) -> str:
        return f"gate {self.system} {self.environment}: {self.verdict}"


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


class WaiverQuerySet(models.QuerySet["Waiver"]):
    def visible_to(self, user: Any) -> WaiverQuerySet:
        return self.filter(system__in=AISystem.objects.visible_to(user))


class Waiver(models.Model):
    """A time-bound, justified exception to one requirement for one system, approved by its risk owner."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="waivers")
    requirement = models.CharField(max_length=80)
    justification = models.TextField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=WaiverStatus.choices, default=WaiverStatus.REQUESTED)
    policy_version = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = WaiverQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["system", "status", "expires_at"])]

    def __str__(self) -> str:
        return f"waiver #{self.pk} {self.system} / {self.requirement}"


# --- Tracked PDF exports (issue 4) -----------------------------------------------------------------
from governance.export_models import DocumentExport  # noqa: E402,F401
