"""Stored readiness verdicts per system and environment, and every gate call from CI."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from catalog.models.systems import AISystem
from clearance.models import ApiToken
from governance.choices import Verdict
from governance.permissions import visible_gate_checks


class FactsVersion(models.Model):
    """A counter per system, bumped in the transaction of every change to a fact the readiness policy
    reads (``governance.services.readiness.facts_changed``). A stored verdict records the counter it
    was computed from; the gate serves it only while the two are equal. No row reads as 0."""

    system = models.OneToOneField(AISystem, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"facts of system {self.system_id}: version {self.version}"


# The facts version of a stored verdict that must never be served (its recompute failed, or it
# predates facts versions): no system's counter is ever negative.
UNTRUSTED_FACTS = -1


class ReadinessVerdict(models.Model):
    """The last computed readiness of one system for one environment (portfolio view, sweeps), and
    the gate's answer while it is current: same active policy version, the same facts version as
    the system's, the same owners (``owners_key``) and not past ``valid_until``."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="verdicts")
    environment = models.CharField(max_length=50)
    verdict = models.CharField(max_length=5, choices=Verdict.choices)
    policy_name = models.CharField(max_length=100)
    policy_version = models.CharField(max_length=64)
    requirements = models.JSONField(default=list)
    computed_at = models.DateTimeField()
    # When the first piece of evidence or approval ages out; the periodic sweep recomputes then.
    valid_until = models.DateTimeField(null=True, blank=True, db_index=True)
    # The system's FactsVersion read before the facts were collected (so a change committed while
    # they were read leaves this one behind, never ahead); UNTRUSTED_FACTS when it must not be served.
    facts_version = models.BigIntegerField(default=UNTRUSTED_FACTS)
    # Who owned the system and whether they were active, as the facts read it: an owner deactivated
    # or renamed in the admin (no service announces that) makes the verdict not current.
    owners_key = models.CharField(max_length=1000, blank=True)

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
