"""Use-case requests: what a stakeholder asks for, and where it stands."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.choices import RiskTier
from catalog.models import AISystem
from clearance.roles import Role, has_role, reads_portfolio
from intake.choices import AnnexIIIArea, RequestStatus

REVIEWER_ROLES = (Role.SECURITY_REVIEWER, Role.LEGAL_REVIEWER, Role.PRIVACY_REVIEWER)
REVIEWER_VISIBLE_STATES = (
    RequestStatus.IN_REVIEW,
    RequestStatus.APPROVED,
    RequestStatus.REJECTED,
    RequestStatus.CHANGES_REQUESTED,
)


class UseCaseRequestQuerySet(models.QuerySet["UseCaseRequest"]):
    def visible_to(self, user: Any) -> UseCaseRequestQuerySet:
        if reads_portfolio(user):
            return self.all()
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        visible = Q(requester=user)
        if has_role(user, *REVIEWER_ROLES):
            # Reviewers see the requests that reached review; drafts and triage stay with the
            # requester and the governance team.
            visible |= Q(status__in=REVIEWER_VISIBLE_STATES)
        return self.filter(visible)


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
