"""Read-only compliance API: the framework library, each framework's controls, and a system's control
status. Frameworks are reference data every signed-in caller reads; a system's status follows the
system's visibility (``visible_to`` and a token's system restriction) and is computed on each call by
``compliance.selectors.compliance_many``, the gate's facts and engine, in a fixed number of queries."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import AISystem
from clearance.permissions import token_restricted_to
from compliance.api.serializers import ControlSerializer, ControlStatusSerializer, FrameworkSerializer
from compliance.loader import Framework, Library, LibraryError, load_library
from compliance.selectors import ControlResult, compliance_many
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import for_facts


class LibraryUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "the framework library does not load; nothing can be said until it is fixed"
    default_code = "unavailable"


def _library() -> Library:
    try:
        return load_library()
    except LibraryError as exc:
        raise LibraryUnavailable() from exc


def _framework(library: Library, framework_id: str) -> Framework:
    framework = library.frameworks.get(framework_id)
    if framework is None:
        raise Http404("no such framework")
    return framework


class FrameworkViewSet(viewsets.GenericViewSet[Any]):
    """The compliance frameworks of the library (shipped and imported)."""

    lookup_field = "framework_id"
    lookup_value_regex = "[a-z0-9][a-z0-9-]*"
    serializer_class = FrameworkSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return list(_library().frameworks.values())

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(FrameworkSerializer(page, many=True).data)

    def retrieve(self, request: Request, framework_id: str) -> Response:
        return Response(FrameworkSerializer(_framework(_library(), framework_id)).data)


class FrameworkControlsView(generics.ListAPIView[Any]):
    """The controls of one framework in file order, with how the active policy evidences each."""

    serializer_class = ControlSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        self.library = _library()
        return list(_framework(self.library, self.kwargs["framework_id"]).controls)

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = dict(super().get_serializer_context())
        library = getattr(self, "library", None) or _library()
        try:
            policy_name = load_readiness_policy().name
        except Exception:  # noqa: BLE001 - with no usable policy no requirement evidences anything
            policy_name = ""
        context.update(library=library, mapping=lambda key: library.mapping_for(policy_name, key))
        return context


FRAMEWORK_FILTER = OpenApiParameter("framework", OpenApiTypes.STR, description="Only this framework's controls.")


@extend_schema(parameters=[FRAMEWORK_FILTER])
class SystemComplianceView(generics.ListAPIView[Any]):
    """Each control's status for one system you may see, computed now from the facts and policy engine
    the deploy gate uses (never stored), with the evidence that decided it."""

    serializer_class = ControlStatusSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        systems = token_restricted_to(self.request, AISystem.objects.visible_to(self.request.user), "slug")
        system = for_facts(systems.filter(slug=self.kwargs["slug"])).first()
        if system is None:
            raise Http404("no such system")
        library = _library()
        framework_id = self.request.query_params.get("framework")
        if framework_id is not None and framework_id not in library.frameworks:
            raise exceptions.ValidationError({"framework": [f"not a framework; known: {', '.join(library.frameworks)}"]})
        chosen = [framework_id] if framework_id else None
        results: list[ControlResult] = []
        for per_framework in compliance_many([system], timezone.now(), library, chosen)[system.pk].results.values():
            results.extend(per_framework)
        return results
