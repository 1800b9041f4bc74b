from __future__ import annotations

from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import AISystem
from clearance.api import OptionalURLField


class AISystemSerializer(serializers.ModelSerializer[AISystem]):
    business_owner = serializers.SlugRelatedField[User](slug_field="username", read_only=True, allow_null=True,
                                                  help_text="Username; null until one is assigned.")
    technical_owner = serializers.SlugRelatedField[User](slug_field="username", read_only=True, allow_null=True,
                                                   help_text="Username; null until one is assigned.")
    risk_owner = serializers.SlugRelatedField[User](slug_field="username", read_only=True, allow_null=True,
                                              help_text="Username; null until one is assigned.")
    repo_url = OptionalURLField()
    runbook_url = OptionalURLField()
    dashboard_url = OptionalURLField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = AISystem
        fields = [
            "slug", "name", "purpose", "lifecycle_stage", "risk_tier", "business_owner", "technical_owner",
            "risk_owner", "vendor", "model_name", "model_version", "data_categories", "repo_url", "runbook_url",
            "dashboard_url", "primary_metric", "metric_threshold", "metric_higher_is_better", "created_at",
            "updated_at", "url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, obj: AISystem) -> str:
        request = self.context.get("request")
        path = obj.get_absolute_url()
        return request.build_absolute_uri(path) if request else path
