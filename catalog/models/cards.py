"""Model cards: versioned, structured documentation of a system's model; published versions are frozen."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.choices import (
    CardSourceFormat,
    CardTemplate,
    ModelCardStatus,
)
from catalog.models.systems import AISystem


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
    # What an import brought that the app does not model is kept verbatim in source_document, so
    # an export gives it back unchanged.
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
