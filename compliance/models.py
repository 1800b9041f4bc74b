"""What compliance stores: a system's operator role under the EU AI Act, and manual attestations.

Control status is never stored: it is computed from the gate's facts and engine on every read
(``compliance.selectors``). An attestation is evidence a person gives; it goes stale after its expiry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from compliance.choices import GpaiModel, OperatorRole

if TYPE_CHECKING:
    from datetime import datetime


class OperatorProfileQuerySet(models.QuerySet["OperatorProfile"]):
    pass


class OperatorProfile(models.Model):
    """How the organisation stands towards one system under the EU AI Act. A system without a row is
    read by ``compliance.selectors.profile_of``: provider when built in-house (no vendor), deployer
    when bought (a vendor is named); the row, once set, says so explicitly."""

    system = models.OneToOneField("catalog.AISystem", on_delete=models.CASCADE, related_name="operator_profile")
    role = models.CharField(max_length=12, choices=OperatorRole.choices)
    gpai_model = models.CharField(max_length=14, choices=GpaiModel.choices, default=GpaiModel.NONE)
    generative = models.BooleanField(default=False, help_text="The system generates text, images, audio or video.")
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    objects = OperatorProfileQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.system_id}: {self.role}"


class AttestationQuerySet(models.QuerySet["Attestation"]):
    def visible_to(self, user: Any) -> AttestationQuerySet:
        from compliance.permissions import visible_attestations

        visible: AttestationQuerySet = visible_attestations(user, self)
        return visible


class Attestation(models.Model):
    """A person's signed statement that a control holds for a system, with evidence and an expiry.
    Rows are only added: a new attestation for the same control supersedes the older one."""

    system = models.ForeignKey("catalog.AISystem", on_delete=models.CASCADE, related_name="attestations")
    control = models.CharField(max_length=120, help_text="<framework id>/<control id>")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement = models.TextField()
    evidence_url = models.URLField(blank=True)
    reviewed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AttestationQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["system", "control", "-reviewed_at"], name="attest_sys_ctrl_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("reviewed_at")),
                                   name="attestation_expires_after_review"),
        ]

    def __str__(self) -> str:
        return f"{self.control} for system {self.system_id}"

    def is_stale(self, now: datetime) -> bool:
        return now >= self.expires_at


class FrameworkImport(models.Model):
    """One import of an OSCAL catalog as an organisation framework: what was written, from where, by
    whom. The library reads the file (FRAMEWORK_IMPORT_DIR); this row is the record of how it got there."""

    framework_id = models.CharField(max_length=40)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the framework file written")
    controls = models.PositiveIntegerField()
    source_url = models.URLField(max_length=500)
    licence = models.CharField(max_length=400)
    text = models.TextField(help_text="The framework file as written")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.framework_id} ({self.digest[:12]})"
