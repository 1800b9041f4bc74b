"""Datasets (with their datasheets) and vendors, linked to the systems that use them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.urls import reverse

from catalog.choices import DataClassification, DpaStatus
from catalog.permissions import visible_datasets, visible_vendors


class DatasetQuerySet(models.QuerySet["Dataset"]):
    def visible_to(self, user: User | AnonymousUser) -> DatasetQuerySet:
        return visible_datasets(user, self)


class Dataset(models.Model):
    """A dataset a system is trained, evaluated or grounded on, with its datasheet."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    classification = models.CharField(max_length=12, choices=DataClassification.choices)
    personal_data = models.BooleanField(default=False)
    personal_data_notes = models.TextField(blank=True)
    collection_method = models.TextField(blank=True)
    known_biases = models.TextField(blank=True)
    retention = models.CharField(max_length=200, blank=True)
    review_due = models.DateField(null=True, blank=True)
    systems = models.ManyToManyField("catalog.AISystem", blank=True, related_name="datasets")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["classification"]), models.Index(fields=["review_due"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dataset-detail", kwargs={"pk": self.pk})


class VendorQuerySet(models.QuerySet["Vendor"]):
    def visible_to(self, user: User | AnonymousUser) -> VendorQuerySet:
        return visible_vendors(user, self)


class Vendor(models.Model):
    """A provider of models or AI services, with the contractual facts reviewers ask about."""

    name = models.CharField(max_length=200, unique=True)
    website = models.URLField(blank=True)
    terms_reviewed_on = models.DateField(null=True, blank=True)
    dpa_status = models.CharField(max_length=12, choices=DpaStatus.choices, default=DpaStatus.MISSING)
    data_residency = models.CharField(max_length=200, blank=True)
    models_offered = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    review_due = models.DateField(null=True, blank=True)
    systems = models.ManyToManyField("catalog.AISystem", blank=True, related_name="vendors")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VendorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["dpa_status"]), models.Index(fields=["review_due"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("vendor-detail", kwargs={"pk": self.pk})
