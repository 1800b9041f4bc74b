from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from rest_framework import viewsets

from catalog.api.serializers import AISystemSerializer
from catalog.models import AISystem
from clearance.permissions import token_restricted_to


class AISystemFilter(filters.FilterSet):
    class Meta:
        model = AISystem
        fields = ["lifecycle_stage", "risk_tier"]


class AISystemViewSet(viewsets.ReadOnlyModelViewSet[AISystem]):
    """AI systems in the catalog that the caller may see."""

    serializer_class = AISystemSerializer
    lookup_field = "slug"
    filterset_class = AISystemFilter

    def get_queryset(self) -> Any:
        systems = token_restricted_to(self.request, AISystem.objects.visible_to(self.request.user), "slug")
        return systems.select_related("business_owner", "technical_owner", "risk_owner").order_by("slug")
