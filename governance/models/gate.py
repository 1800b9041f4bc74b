"""Stored readiness verdicts per system and environment, and every gate call from CI."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from catalog.models.systems import AISystem
from clearance.models import ApiToken
from governance.choices import Verdict
from governance.permissions import visible_gate_checks


class ReadinessVerdict(models.Model):
    """The last computed readiness of one system for one environment (portfolio view, sweeps)."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="verdicts")
    environment = models.CharField(max_length=50)
    verdict = models.CharField(max_length=5, choices=Verdict.choices)
    policy_name = models.CharField(max_length=100)
    policy_version = models.CharField(max_length=64)
    requirements = models.JSONField(default=list)
    computed_at = models.DateTimeField()
    # When the first piece of evidence or approval ages out; the periodic sweep recomputes then.
    valid_until = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "environment"], name="verdict_one_per_env")]

    def __str__(self) -> str:
        return f"{self.system} {self.environment}: {self.verdict}"


class GateCheckQuerySet(models.QuerySet["GateCheck"]):
    def visible_to(self, user: User | AnonymousUser) -> GateCheckQuerySet:
        return visible_gate_checks(user, self)


class GateCheck(models.Model):
    """One call of the deployment gate, as CI made it, with the answer it got."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="gate_checks")
    environment = models.CharField(max_length=50)
    version = models.CharField(max_length=200, blank=True)
    commit = models.CharField(max_length=100, blank=True)
    pipeline_url = models.URLField(max_length=500, blank=True)
    verdict = models.CharField(max_length=5, choices=Verdict.choices)
    policy_name = models.CharField(max_length=100)
    policy_version = models.CharField(max_length=64)
    requirements = models.JSONField(default=list)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    checked_at = models.DateTimeField(db_index=True)
    duration_ms = models.FloatField(default=0)

    objects = GateCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["system", "environment", "-checked_at"])]

    def __str__(self) -> str:
        return f"gate {self.system} {self.environment}: {self.verdict}"
