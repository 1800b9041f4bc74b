"""The incident register: what went wrong with an AI system, how it is handled, and, for a serious
incident in the EU AI Act's sense, when its report to the market surveillance authority is due."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.models import AISystem
from risks.choices import INCIDENT_OPEN, IncidentSeverity, IncidentStatus, ReportStatus
from risks.models.risks import Risk
from risks.permissions import visible_incidents

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class IncidentQuerySet(models.QuerySet["Incident"]):
    def visible_to(self, user: User | AnonymousUser) -> IncidentQuerySet:
        return visible_incidents(user, self)

    def open(self) -> IncidentQuerySet:
        return self.filter(status__in=INCIDENT_OPEN)

    def overdue(self, now: datetime) -> IncidentQuerySet:
        """Serious incidents whose report is due and whose deadline has passed."""
        return self.filter(report_status=ReportStatus.DUE, report_due_at__lte=now)


class Incident(models.Model):
    systems = models.ManyToManyField(AISystem, related_name="incidents")
    risks = models.ManyToManyField(Risk, related_name="incidents", blank=True)
    title = models.CharField(max_length=200)
    description = models.TextField()
    model_version = models.CharField(max_length=100, blank=True)
    severity = models.CharField(max_length=10, choices=IncidentSeverity.choices)
    harm_categories = models.JSONField(default=list, blank=True)
    people_affected = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField()
    # When the organisation became aware of it; the EU AI Act's reporting deadlines count from here.
    aware_at = models.DateTimeField()
    # Ids of the facts in risks/serious_incidents.yaml that hold; they decide is_serious and the deadline.
    serious_facts = models.JSONField(default=list, blank=True)
    is_serious = models.BooleanField(default=False)
    report_deadline = models.CharField(max_length=40, blank=True)  # the deadline id that applies
    report_due_at = models.DateTimeField(null=True, blank=True)
    report_status = models.CharField(max_length=20, choices=ReportStatus.choices, default=ReportStatus.NOT_REQUIRED)
    initial_report_at = models.DateTimeField(null=True, blank=True)
    complete_report_at = models.DateTimeField(null=True, blank=True)
    authority_reference = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=IncidentStatus.choices, default=IncidentStatus.TRIAGE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True,
                              blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    resolution = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the reminder that the report is nearly due, and that it is overdue, went out for the
    # current deadline (cleared when the deadline moves): a reminder is sent once per deadline.
    reminded_due_soon_at = models.DateTimeField(null=True, blank=True)
    reminded_overdue_at = models.DateTimeField(null=True, blank=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="incident_status_created"),
            models.Index(fields=["report_status", "report_due_at"], name="incident_report_due"),
            models.Index(fields=["severity", "-created_at"], name="incident_severity_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(report_status=ReportStatus.NOT_REQUIRED) | Q(report_due_at__isnull=False),
                name="incident_report_has_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(status=IncidentStatus.CLOSED) | Q(closed_at__isnull=False),
                name="incident_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incident-detail", kwargs={"pk": self.pk})

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in INCIDENT_OPEN

    def is_overdue(self, now: datetime) -> bool:
        return self.report_status == ReportStatus.DUE and self.report_due_at is not None and self.report_due_at <= now
