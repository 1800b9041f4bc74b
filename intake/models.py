"""Use-case requests: what a stakeholder asks for, and where it stands."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.urls import reverse

from catalog.choices import RiskTier
from catalog.models import AISystem
from intake.choices import AnnexIIIArea, LawfulBasis, RequestStatus, TimelineKind
from intake.permissions import of_visible_requests, visible_requests


class UseCaseRequestQuerySet(models.QuerySet["UseCaseRequest"]):
    def visible_to(self, user: User | AnonymousUser) -> UseCaseRequestQuerySet:
        """The entry point of every read; who sees what is decided in intake.permissions."""
        return visible_requests(user, self)


class UseCaseRequest(models.Model):
    """A stakeholder's request to use AI for a business problem."""

    title = models.CharField(max_length=200)
    problem = models.TextField(help_text="The business problem, in the words of the people who have it.")
    business_outcome = models.TextField(help_text="The outcome and the KPI that measures it, with today's baseline.")
    why_ai = models.TextField(help_text="Why AI, and why not something simpler.")
    alternatives_considered = models.JSONField(default=list, blank=True)
    users_affected = models.TextField(blank=True)
    customer_facing = models.BooleanField(default=False)
    human_in_the_loop = models.BooleanField(default=True)
    fallback = models.TextField(blank=True, help_text="What happens when the model is wrong or down.")
    data_categories = models.JSONField(default=list, blank=True)
    annex_iii_area = models.CharField(max_length=30, choices=AnnexIIIArea.choices, default=AnnexIIIArea.NONE)
    prohibited_practices = models.JSONField(default=list, blank=True)
    interacts_with_people = models.BooleanField(default=False)
    generates_synthetic_content = models.BooleanField(default=False)
    vendor_model = models.CharField(max_length=200, blank=True)
    expected_volume = models.CharField(max_length=100, blank=True)
    # The guided questionnaire: KPI with baseline, the deterministic parts, data sources,
    # the privacy section (asked only with personal data), the Annex III gate, cost and latency,
    # and who could own the system.
    department = models.CharField(max_length=100, blank=True, db_index=True)
    kpi = models.CharField(max_length=200, blank=True)
    kpi_baseline = models.CharField(max_length=200, blank=True)
    kpi_target = models.CharField(max_length=200, blank=True)
    deterministic_parts = models.TextField(blank=True)
    data_sources = models.TextField(blank=True)
    privacy_lawful_basis = models.CharField(max_length=30, choices=LawfulBasis.choices, blank=True)
    privacy_data_subjects = models.TextField(blank=True)
    privacy_retention = models.CharField(max_length=200, blank=True)
    touches_annex_iii = models.BooleanField(default=False)
    annex_iii_details = models.TextField(blank=True)
    latency_target = models.CharField(max_length=100, blank=True)
    monthly_budget = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    business_owner_candidate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    technical_owner_candidate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Similar requests and catalog systems found when the request was submitted (triage flags them).
    similar = models.JSONField(default=list, blank=True)
    # Where the requester left the guided form, and the steps that validated.
    wizard_step = models.CharField(max_length=30, blank=True)
    completed_steps = models.JSONField(default=list, blank=True)

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ai_requests")
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.DRAFT)
    suggested_tier = models.CharField(max_length=12, choices=RiskTier.choices, blank=True)
    tier_reasons = models.JSONField(default=list, blank=True)
    risk_tier = models.CharField(max_length=12, choices=RiskTier.choices, blank=True)
    tier_justification = models.TextField(blank=True)
    business_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    technical_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    risk_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system = models.OneToOneField(
        AISystem, null=True, blank=True, on_delete=models.PROTECT, related_name="source_request"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = UseCaseRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "use-case request"
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("request-detail", kwargs={"pk": self.pk})

    @property
    def reference(self) -> str:
        return f"REQ-{self.pk:04d}"


class TimelineEntryQuerySet(models.QuerySet["TimelineEntry"]):
    def visible_to(self, user: User | AnonymousUser) -> TimelineEntryQuerySet:
        return of_visible_requests(user, self)


class TimelineEntry(models.Model):
    """A comment, a reviewer's question or the requester's answer on a request (Markdown source)."""

    request = models.ForeignKey(UseCaseRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=TimelineKind.choices, default=TimelineKind.COMMENT)
    body = models.TextField()
    created_at = models.DateTimeField()

    objects = TimelineEntryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.request_id} by {self.author_id}"


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def visible_to(self, user: User | AnonymousUser) -> AttachmentQuerySet:
        return of_visible_requests(user, self)


class Attachment(models.Model):
    """A file attached to a request, stored under a generated name outside the web root."""

    request = models.ForeignKey(UseCaseRequest, on_delete=models.PROTECT, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    original_name = models.CharField(max_length=255)
    stored_name = models.CharField(max_length=80, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField()

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.original_name

    def get_absolute_url(self) -> str:
        return reverse("attachment-download", kwargs={"pk": self.pk})
