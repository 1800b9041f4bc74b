"""AI systems: the catalog's central record, with owners, tier and lifecycle stage."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.urls import reverse

from catalog.choices import (
    LifecycleStage,
    RiskTier,
)
from catalog.permissions import visible_systems


class AISystemQuerySet(models.QuerySet["AISystem"]):
    def visible_to(self, user: User | AnonymousUser) -> AISystemQuerySet:
        """The entry point of every read; who sees what is decided in catalog.permissions."""
        return visible_systems(user, self)


class AISystem(models.Model):
    """An AI system in the catalog; its slug is the stable key CI uses at the gate."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    purpose = models.TextField()
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.PROPOSED)
    risk_tier = models.CharField(max_length=12, choices=RiskTier.choices)
    business_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    technical_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    risk_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    vendor = models.CharField(max_length=200, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    data_categories = models.JSONField(default=list, blank=True)
    repo_url = models.URLField(blank=True)
    runbook_url = models.URLField(blank=True)
    dashboard_url = models.URLField(blank=True)
    # The evaluation requirement's inputs; the evidence pipeline deepens these.
    primary_metric = models.CharField(max_length=100, blank=True)
    metric_threshold = models.FloatField(null=True, blank=True)
    metric_higher_is_better = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AISystemQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "AI system"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("system-detail", kwargs={"slug": self.slug})

    def owner_ids(self) -> set[int]:
        return {pk for pk in (self.business_owner_id, self.technical_owner_id, self.risk_owner_id) if pk}
