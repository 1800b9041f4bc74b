"""The incident register's API: what an incident reads as, and the body that reports one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import AISystem
from risks.choices import HarmCategory, IncidentSeverity
from risks.models import Incident
from risks.reporting import rules


class IncidentSerializer(serializers.ModelSerializer[Incident]):
    reference = serializers.CharField(read_only=True)
    systems = serializers.SlugRelatedField[AISystem](slug_field="slug", many=True, read_only=True)
    risks: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(many=True, read_only=True,
                                               help_text="Ids of the risks the incident is linked to.")
    owner = serializers.SlugRelatedField[User](slug_field="username", read_only=True, allow_null=True,
                                               help_text="Who handles it; null when nobody does yet.")
    reported_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    report_deadline = serializers.CharField(read_only=True, allow_blank=True,
                                            help_text="The EU AI Act deadline that applies; blank when none does.")
    overdue = serializers.SerializerMethodField(help_text="The report to the authority is due and its deadline passed.")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id", "reference", "title", "description", "systems", "risks", "model_version", "severity",
            "harm_categories", "people_affected", "started_at", "detected_at", "aware_at", "serious_facts",
            "is_serious", "report_deadline", "report_due_at", "report_status", "initial_report_at",
            "complete_report_at", "authority_reference", "overdue", "status", "owner", "reported_by", "resolution",
            "created_at", "updated_at", "closed_at", "url",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "harm_categories": {"help_text": "Codes of the harm done (see the create body)."},
            "serious_facts": {"help_text": "Ids of the EU AI Act facts that hold (see the create body)."},
        }

    @extend_schema_field(serializers.BooleanField())
    def get_overdue(self, incident: Incident) -> bool:
        now: datetime = self.context.get("now") or timezone.now()
        return incident.is_overdue(now)

    @extend_schema_field(serializers.URLField())
    def get_url(self, incident: Incident) -> str:
        request = self.context.get("request")
        path = incident.get_absolute_url()
        return request.build_absolute_uri(path) if request is not None else path


class IncidentCreateSerializer(serializers.Serializer[Any]):
    """Report an incident: the same fields as the web form, systems by slug and the handler by username."""

    systems = serializers.ListField(child=serializers.SlugField(max_length=100), min_length=1, max_length=20,
                                    help_text="Slugs of the systems involved (systems you can see).")
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=20_000, help_text="What happened (at least 10 characters).")
    severity = serializers.ChoiceField(choices=IncidentSeverity.choices)
    detected_at = serializers.DateTimeField()
    aware_at = serializers.DateTimeField(help_text="When the organisation became aware of it; the EU AI Act's "
                                                   "reporting deadlines count from here.")
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    harm_categories = serializers.ListField(child=serializers.ChoiceField(choices=HarmCategory.choices),
                                            required=False, max_length=20)
    people_affected = serializers.IntegerField(min_value=0, max_value=1_000_000_000, required=False,
                                               allow_null=True)
    serious_facts = serializers.ListField(
        child=serializers.ChoiceField(choices=[(f.id, f.label) for f in rules().facts]), required=False,
        max_length=20, help_text="The EU AI Act facts that hold (Art. 3(49)); any harm among them makes it a "
                                 "serious incident with a reporting deadline.")
    model_version = serializers.CharField(max_length=100, required=False, allow_blank=True)
    owner = serializers.CharField(max_length=150, required=False, allow_null=True,
                                  help_text="Username of who handles it; default: the first system's technical owner.")
    risks = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**31 - 1), required=False,
                                  max_length=50, help_text="Ids of risks of these systems it is linked to.")

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        value: dict[str, Any] = super().to_internal_value(data)
        return value
