"""Waivers: time-bound, justified exceptions to one readiness requirement for one system."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from catalog.models.systems import AISystem
from governance.choices import WaiverStatus
from governance.permissions import visible_waivers


class WaiverQuerySet(models.QuerySet["Waiver"]):
    def visible_to(self, user: User | AnonymousUser) -> WaiverQuerySet:
        return visible_waivers(user, self)


class Waiver(models.Model):
    """A time-bound, justified exception to one requirement for one system, approved by its risk owner."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="waivers")
    requirement = models.CharField(max_length=80)
    justification = models.TextField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=WaiverStatus.choices, default=WaiverStatus.REQUESTED)
    policy_version = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = WaiverQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["system", "status", "expires_at"])]

    def __str__(self) -> str:
        return f"waiver #{self.pk} {self.system} / {self.requirement}"
