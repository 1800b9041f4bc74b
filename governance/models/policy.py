"""Recorded readiness policy versions and which one is active.

Every web process, worker and host decides with the version the newest activation names, read
from the database on each call; the file on disk only proposes a version (see
``governance.services.policy.policy_activate``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PolicyVersion(models.Model):
    """One readiness policy exactly as it was activated: its bytes, and their SHA-256 as version."""

    digest = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    content = models.TextField()
    # The file it was read from, for people; the content above is what decides.
    source = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"policy {self.name} {self.digest[:12]}"


class PolicyActivation(models.Model):
    """An append-only history of activations; the newest row names the active version."""

    class Via(models.TextChoices):
        COMMAND = "command", "manage.py policy activate"
        MIGRATE = "migrate", "migrate (deploy)"
        DEMO = "demo", "demo"

    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="activations")
    # Copied from the version so the per-call check reads one row of one table by its primary key.
    digest = models.CharField(max_length=64)
    activated_at = models.DateTimeField()
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    via = models.CharField(max_length=10, choices=Via.choices)
    previous_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.digest[:12]} activated {self.activated_at:%Y-%m-%d %H:%M} via {self.via}"
