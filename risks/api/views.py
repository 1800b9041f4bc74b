"""The incident register's API: read the incidents you may see, report one."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import AISystem
from clearance.api import error_body, signed_in_user
from clearance.models import ApiToken
from clearance.permissions import token_allows_system, token_restricted_to
from risks.api.serializers import IncidentCreateSerializer, IncidentSerializer
from risks.choices import IncidentSeverity, IncidentStatus, ReportStatus
from risks.models import Incident, Risk
from risks.services.incidents import IncidentInput, incident_open


class IncidentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=IncidentStatus.choices)
    severity = filters.ChoiceFilter(choices=IncidentSeverity.choices)
    report_status = filters.ChoiceFilter(choices=ReportStatus.choices)
    is_serious = filters.BooleanFilter()
    system = filters.CharFilter(method="by_system", max_length=100, help_text="A system's slug.")
    overdue = filters.BooleanFilter(method="by_overdue", help_text="Reports due whose deadline passed.")

    class Meta:
        model = Incident
        fields = ["status", "severity", "report_status", "is_serious"]

    def by_system(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(pk__in=Incident.objects.filter(systems__slug=value).values("pk"))

    def by_overdue(self, queryset: Any, name: str, value: bool | None) -> Any:
        if value is None:
            return queryset
        overdue = Incident.objects.overdue(timezone.now()).values("pk")
        return queryset.filter(pk__in=overdue) if value else queryset.exclude(pk__in=overdue)


class IncidentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Incident]):
    """Incidents the caller may see (newest first); POST reports one on systems the caller sees."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter

    def get_queryset(self) -> Any:
        incidents = Incident.objects.visible_to(self.request.user)
        token = getattr(self.request, "auth", None)
        if isinstance(token, ApiToken) and token.system_slugs:
            # A restricted token reads the incidents of its systems (through the link table, once each).
            incidents = incidents.filter(
                pk__in=token_restricted_to(self.request, Incident.objects.all(), "systems__slug").values("pk"))
        return (incidents.select_related("owner", "reported_by")
                .prefetch_related(Prefetch("systems", queryset=AISystem.objects.only("pk", "slug")), "risks")
                .order_by("-created_at", "-pk"))

    @extend_schema(
        summary="Report an incident",
        description="Reports an AI incident on one or more systems the caller sees (scope `write`). It starts in "
                    "triage; the systems' owners and the governance leads are notified; when the EU AI Act facts "
                    "make it a serious incident, the answer carries the reporting deadline.",
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = IncidentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = signed_in_user(request)
        slugs = list(dict.fromkeys(data["systems"]))
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None:
            refused = [s for s in slugs if not token_allows_system(token, s)]
            if refused:
                return Response(error_body("token_not_allowed_for_system",
                                           f"this token is restricted to {', '.join(token.system_slugs)}; it may "
                                           f"not report on {', '.join(refused)}",
                                           {"systems": ["not allowed for this token"]}), status=403)
        systems = list(AISystem.objects.visible_to(user).filter(slug__in=slugs)
                       .select_related("business_owner", "technical_owner", "risk_owner"))
        unknown = sorted(set(slugs) - {s.slug for s in systems})
        if unknown:
            raise serializers.ValidationError({"systems": [f"unknown system(s) {', '.join(unknown)} (or you may "
                                                           "not see them)"]})
        owner = None
        if data.get("owner"):
            owner = get_user_model().objects.filter(username=data["owner"], is_active=True).first()
            if owner is None:
                raise serializers.ValidationError({"owner": ["no active user with this username"]})
        risk_ids = list(dict.fromkeys(data.get("risks") or []))
        risks = list(Risk.objects.visible_to(user).filter(pk__in=risk_ids)) if risk_ids else []
        if len(risks) != len(risk_ids):
            raise serializers.ValidationError({"risks": ["unknown risk id(s), or risks you may not see"]})
        incident = incident_open(actor=user, systems=systems, risks=risks, data=IncidentInput(
            title=data["title"], description=data["description"], severity=data["severity"],
            detected_at=data["detected_at"], aware_at=data["aware_at"], started_at=data.get("started_at"),
            harm_categories=list(data.get("harm_categories") or []), people_affected=data.get("people_affected"),
            serious_facts=list(data.get("serious_facts") or []), model_version=data.get("model_version") or "",
            owner=owner))
        fresh = self.get_queryset().get(pk=incident.pk)
        return Response(IncidentSerializer(fresh, context={"request": request}).data, status=201)
