"""Tracked PDF exports: a model card, a decision record, or a system's audit dossier."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.urls import reverse

from catalog.models.systems import AISystem
from governance.choices import ExportKind, ExportStatus
from governance.permissions import visible_exports


class DocumentExportQuerySet(models.QuerySet["DocumentExport"]):
    def visible_to(self, user: User | AnonymousUser) -> DocumentExportQuerySet:
        return visible_exports(user, self)


class DocumentExport(models.Model):
    """One PDF export: the tracked row the page polls (status, progress, error, the stored file)."""

    kind = models.CharField(max_length=12, choices=ExportKind.choices)
    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="exports")
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=300, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Attempts at building it, and while RUNNING the builder's claim, renewed by its heartbeat: a
    # builder that died stops renewing and the job is taken back once the lease has passed.
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)

    objects = DocumentExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["system", "kind", "-created_at"]),
                   models.Index(fields=["status", "lease_until"], name="export_status_lease_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} export #{self.pk} of {self.system} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("export-detail", kwargs={"pk": self.pk})

    @property
    def finished(self) -> bool:
        return self.status in (ExportStatus.SUCCEEDED, ExportStatus.FAILED)
