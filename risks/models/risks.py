"""The risk register: risks (of one system, or portfolio-wide and linked to many) and acceptances of
the residual risk by a system's risk owner, pinned to the scores and treatment they accepted."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.models import AISystem
from risks.choices import AcceptanceStatus, Treatment
from risks.permissions import visible_acceptances, visible_risks

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def scale() -> tuple[int, int]:
    """(likelihood levels, impact levels) of the configured scale."""
    return int(settings.RISK_LIKELIHOOD_LEVELS), int(settings.RISK_IMPACT_LEVELS)


def appetite(risk_tier: str) -> int:
    """The highest residual score a system of this tier carries without an acceptance (0 when unknown)."""
    return int(getattr(settings, "RISK_APPETITE", {}).get(risk_tier, 0))


class RiskQuerySet(models.QuerySet["Risk"]):
    def visible_to(self, user: User | AnonymousUser) -> RiskQuerySet:
        return visible_risks(user, self)


class Risk(models.Model):
    systems = models.ManyToManyField(AISystem, related_name="risks")
    # Portfolio-wide risks may be linked to any number of systems; the others to exactly one.
    portfolio_wide = models.BooleanField(default=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # A subdomain id of the shipped taxonomy (risks/taxonomy.yaml), e.g. "2.2"; services check it.
    category = models.CharField(max_length=10)
    cause = models.TextField(blank=True)
    consequence = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    likelihood = models.PositiveSmallIntegerField()
    impact = models.PositiveSmallIntegerField()
    residual_likelihood = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_impact = models.PositiveSmallIntegerField(null=True, blank=True)
    treatment = models.CharField(max_length=10, choices=Treatment.choices, blank=True)
    treatment_rationale = models.TextField(blank=True)
    # Ids of the controls and readiness-policy requirements that mitigate it.
    controls = models.JSONField(default=list, blank=True)
    review_date = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = RiskQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(likelihood__gte=1) & Q(impact__gte=1), name="risk_scores_positive"
            ),
            models.CheckConstraint(
                condition=(Q(residual_likelihood__isnull=True) & Q(residual_impact__isnull=True))
                | (Q(residual_likelihood__gte=1) & Q(residual_impact__gte=1)),
                name="risk_residual_both_or_none",
            ),
        ]
        indexes = [models.Index(fields=["review_date"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("risk-edit", kwargs={"pk": self.pk})

    @property
    def score(self) -> int:
        return self.likelihood * self.impact

    @property
    def residual_score(self) -> int:
        """After treatment; the inherent score while no residual is recorded (fail closed)."""
        if self.residual_likelihood is None or self.residual_impact is None:
            return self.score
        return self.residual_likelihood * self.residual_impact

    def pinned_snapshot(self) -> dict[str, Any]:
        """What an acceptance is pinned to: the scores and the treatment."""
        return risk_snapshot(
            self.likelihood, self.impact, self.residual_likelihood, self.residual_impact, self.treatment
        )


def risk_snapshot(
    likelihood: int, impact: int, residual_likelihood: int | None, residual_impact: int | None, treatment: str
) -> dict[str, Any]:
    return {
        "likelihood": likelihood,
        "impact": impact,
        "residual_likelihood": residual_likelihood,
        "residual_impact": residual_impact,
        "treatment": treatment,
    }


def snapshot_fingerprint(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class RiskAcceptanceQuerySet(models.QuerySet["RiskAcceptance"]):
    def visible_to(self, user: User | AnonymousUser) -> RiskAcceptanceQuerySet:
        return visible_acceptances(user, self)

    def current(self, now: datetime) -> RiskAcceptanceQuerySet:
        return self.filter(status=AcceptanceStatus.ACTIVE, expires_at__gt=now)


class RiskAcceptance(models.Model):
    """The system's risk owner accepts a risk's residual level for that system, until an expiry."""

    risk = models.ForeignKey(Risk, on_delete=models.CASCADE, related_name="acceptances")
    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rationale = models.TextField()
    accepted_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=AcceptanceStatus.choices, default=AcceptanceStatus.ACTIVE
    )
    # The scores and treatment accepted, and their hash: a change to either lapses the acceptance.
    pinned = models.JSONField(default=dict)
    fingerprint = models.CharField(max_length=64)
    lapsed_at = models.DateTimeField(null=True, blank=True)

    objects = RiskAcceptanceQuerySet.as_manager()

    class Meta:
        ordering = ["-accepted_at", "-pk"]
        constraints = [
            # One live acceptance per risk and system: a new one replaces the old.
            models.UniqueConstraint(
                fields=["risk", "system"], condition=Q(status="active"), name="risk_acceptance_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"Acceptance of {self.risk} for {self.system}"

    def is_current(self, risk: Risk, now: datetime) -> bool:
        return (
            self.status == AcceptanceStatus.ACTIVE
            and self.expires_at > now
            and self.fingerprint == snapshot_fingerprint(risk.pinned_snapshot())
        )
