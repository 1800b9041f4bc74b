from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from rest_framework import viewsets

from clearance.permissions import token_restricted_to
from intake.api.serializers import UseCaseRequestSerializer
from intake.models import UseCaseRequest


class UseCaseRequestFilter(filters.FilterSet):
    class Meta:
        model = UseCaseRequest
        fields = ["status", "risk_tier"]


class UseCaseRequestViewSet(viewsets.ReadOnlyModelViewSet[UseCaseRequest]):
    """Use-case requests the caller may see."""

    serializer_class = UseCaseRequestSerializer
    filterset_class = UseCaseRequestFilter

    def get_queryset(self) -> Any:
        requests = token_restricted_to(self.request, UseCaseRequest.objects.visible_to(self.request.user), "system__slug")
        return requests.select_related("requester", "system")
