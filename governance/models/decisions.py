"""Decision records (ADR style): proposed, then accepted or rejected; accepted ones are superseded, never edited."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.urls import reverse

from catalog.models.systems import AISystem
from governance.choices import DecisionStatus
from governance.permissions import visible_decision_records
from intake.models import UseCaseRequest


class DecisionRecordQuerySet(models.QuerySet["DecisionRecord"]):
    def visible_to(self, user: User | AnonymousUser) -> DecisionRecordQuerySet:
        return visible_decision_records(user, self)


class DecisionRecord(models.Model):
    """An architecture-decision-style record; accepted records change only by being superseded."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="decision_records")
    title = models.CharField(max_length=200)
    context = models.TextField()
    options = models.TextField(blank=True)
    decision = models.TextField()
    consequences = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=DecisionStatus.choices, default=DecisionStatus.PROPOSED)
    deciders = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # A newer record names the one it replaces; several proposals may name the same record, the
    # first accepted wins (the service locks the old record and checks it is still accepted).
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    request = models.ForeignKey(
        UseCaseRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="decision_records"
    )
    facts_snapshot = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = DecisionRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ADR-{self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("decision-detail", kwargs={"pk": self.pk})

    @property
    def reference(self) -> str:
        return f"ADR-{self.pk}"
