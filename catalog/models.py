"""Catalog models: AI systems with their owners, model cards and evidence."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.choices import (
    PERSONAL_DATA,
    CardSourceFormat,
    CardTemplate,
    LifecycleStage,
    ModelCardStatus,
    RiskTier,
)
from clearance.roles import Role, has_role, reads_portfolio

# Reviewers see every system: a system-level review can reach them for any of them.
SYSTEM_READERS = (Role.SECURITY_REVIEWER, Role.LEGAL_REVIEWER, Role.PRIVACY_REVIEWER)


class AISystemQuerySet(models.QuerySet["AISystem"]):
    def visible_to(self, user: Any) -> AISystemQuerySet:
        if reads_portfolio(user) or has_role(user, *SYSTEM_READERS):
            return self.all()
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self.filter(
            Q(business_owner=user) | Q(technical_owner=user) | Q(risk_owner=user) | Q(requested_by=user)
        )


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

    @property
    def processes_personal_data(self) -> bool:
        return bool(PERSONAL_DATA & set(self.data_categories))

    def owner_ids(self) -> set[int]:
        return {pk for pk in (self.business_owner_id, self.technical_owner_id, self.risk_owner_id) if pk}

    def editable_by(self, user: Any) -> bool:
        """Owners and the governance team change a system and its documents (no query)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return user.pk in self.owner_ids() or has_role(user, Role.GOVERNANCE_LEAD, Role.ADMIN)


class ModelCard(models.Model):
    """One version of a system's model card; a published version is never edited again."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="model_cards")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ModelCardStatus.choices, default=ModelCardStatus.DRAFT)
    model_details = models.TextField(blank=True)
    intended_use = models.TextField(blank=True)
    out_of_scope_use = models.TextField(blank=True)
    training_data = models.TextField(blank=True)
    evaluation_data = models.TextField(blank=True)
    metrics = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    ethical_considerations = models.TextField(blank=True)
    caveats = models.TextField(blank=True)
    body_markdown = models.TextField(blank=True)
    # Issue 4: the card's template, metric thresholds, and what an import brought that the app
    # does not model (kept verbatim so an export gives it back).
    template = models.CharField(max_length=20, choices=CardTemplate.choices, blank=True)
    metric_targets = models.JSONField(default=list, blank=True)
    source_format = models.CharField(max_length=20, choices=CardSourceFormat.choices, blank=True)
    source_document = models.JSONField(default=dict, blank=True)
    review_due = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["system", "-version"]
        constraints = [models.UniqueConstraint(fields=["system", "version"], name="modelcard_unique_version")]

    def __str__(self) -> str:
        return f"{self.system} model card v{self.version} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("model-card-detail", kwargs={"slug": self.system.slug, "version": self.version})

    @property
    def is_published(self) -> bool:
        return self.status == ModelCardStatus.PUBLISHED


class EvalResult(models.Model):
    """One evaluation metric value for a system, as ingested from its source."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="eval_results")
    model_version = models.CharField(max_length=100, blank=True)
    metric = models.CharField(max_length=100)
    value = models.FloatField()
    dataset = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=200)
    source_run_id = models.CharField(max_length=200)
    # MLflow logs a metric at several steps; every other source has step 0.
    step = models.BigIntegerField(default=0)
    evidence_source = models.ForeignKey(
        "catalog.EvidenceSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_results"
    )
    observed_at = models.DateTimeField()
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-observed_at"]
        constraints = [
            # The natural key: the same source row never lands twice.
            models.UniqueConstraint(
                fields=["system", "source", "source_run_id", "metric", "dataset", "step"], name="evalresult_natural_key"
            )
        ]
        indexes = [models.Index(fields=["system", "metric", "-observed_at"])]

    def __str__(self) -> str:
        return f"{self.system} {self.metric}={self.value}"


class CostRecord(models.Model):
    """Cost of a system over one charge period, as billed by its source."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="cost_records")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    billed_cost = models.DecimalField(max_digits=18, decimal_places=6)
    effective_cost = models.DecimalField(max_digits=18, decimal_places=6)
    currency = models.CharField(max_length=3)
    service = models.CharField(max_length=200, blank=True)
    resource_id = models.CharField(max_length=300, blank=True)
    charge_category = models.CharField(max_length=30, blank=True)
    # Requests served in the period, where the source says (FOCUS ConsumedUnit "Requests"):
    # what "cost per 1,000 requests" divides by.
    request_count = models.BigIntegerField(null=True, blank=True)
    evidence_source = models.ForeignKey(
        "catalog.EvidenceSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="cost_records"
    )
    source = models.CharField(max_length=200)
    source_row_id = models.CharField(max_length=200)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start"]
        indexes = [models.Index(fields=["system", "period_start"])]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_row_id"], name="costrecord_natural_key"),
            models.CheckConstraint(condition=Q(period_end__gt=models.F("period_start")), name="costrecord_period_order"),
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.effective_cost} {self.currency}"


# --- Evidence pipeline (issue 5): sources, sync runs, requirements, budgets, staging ----------------
from catalog.evidence_models import (  # noqa: E402,F401  (registered with the catalog app from here)
    CostBudget,
    EvidenceSource,
    MetricRequirement,
    StagedCost,
    StagedEval,
    SyncRun,
)

# --- Dataset and vendor registers (issue 4) --------------------------------------------------------
from catalog.register_models import Dataset, Vendor  # noqa: E402,F401
