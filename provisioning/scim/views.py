"""The SCIM 2.0 endpoints under /scim/v2/: Users, Groups, their .search, and discovery.

Built on django-scim2's views (URL layout, the discovery views, its schemas and error types); what
they do with the request is ours, because the library's assume SCIM columns on the user model, raw
PostgreSQL filters and any-exception-is-a-500: here every request is authenticated as an identity
provider first (provisioning.scim.auth), every write is one service call (provisioning.services),
and every refusal is a SCIM error body (provisioning.scim.errors)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django_scim import views as scim_views
from django_scim.constants import SCIM_CONTENT_TYPE, SchemaURI
from django_scim.exceptions import SCIMException

from clearance.errors import DomainError
from clearance.outages import is_outage, note_outage
from clearance.untrusted import UntrustedInputError, load_json
from provisioning.models import ProvisioningClient, ScimGroup
from provisioning.scim import adapters
from provisioning.scim.auth import authenticate
from provisioning.scim.errors import ScimError, bad_request, error_response, not_found
from provisioning.scim.filters import filter_queryset
from provisioning.services import (
    GroupData,
    scim_group_create,
    scim_group_delete,
    scim_group_update,
    scim_user_create,
    scim_user_delete,
    scim_user_update,
    scim_visible_users,
    user_data_of,
)

ALWAYS_RETURNED = {"id", "schemas"}


def scim_json(doc: dict[str, Any], status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(doc), status=status, content_type=SCIM_CONTENT_TYPE)
    if location:
        response["Location"] = location
    return response


@method_decorator(csrf_exempt, name="dispatch")
class ScimEndpoint(View):
    """Authentication, the rate limit and the error answers of every SCIM endpoint."""

    client: ProvisioningClient

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            self.client = authenticate(request)
            # django-scim2's SCIMView.dispatch is skipped on purpose: it answers any exception with a 500.
            return View.dispatch(self, request, *args, **kwargs)
        except ScimError as exc:
            return error_response(exc)
        except SCIMException as exc:
            return error_response(ScimError(exc.status, exc.detail, exc.scim_type))
        except DomainError as exc:
            scim_type = getattr(exc, "scim_type", "invalidValue" if exc.status_code == 400 else None)
            return error_response(ScimError(exc.status_code, exc.message, scim_type))
        except RequestDataTooBig:
            return error_response(ScimError(413, "the body is too large"))
        except Exception as exc:
            if not is_outage(exc):
                raise
            note_outage(exc)
            error = ScimError(503, "the database is unavailable; nothing was changed, retry shortly",
                              retry_after=settings.OUTAGE_RETRY_AFTER_SECONDS)
            return error_response(error)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        allowed = ", ".join(m.upper() for m in self.http_method_names if hasattr(self, m))
        response = error_response(ScimError(405, f"{request.method} is not allowed here; allowed: {allowed}"))
        response["Allow"] = allowed
        return response

    def body(self) -> dict[str, Any]:
        limit = settings.SCIM_MAX_BODY_BYTES
        if int(self.request.META.get("CONTENT_LENGTH") or 0) > limit:
            raise ScimError(413, f"the body is larger than {limit} bytes")
        raw = self.request.read(limit + 1)
        if len(raw) > limit:
            raise ScimError(413, f"the body is larger than {limit} bytes")
        try:
            doc = load_json(raw or b"{}", max_depth=settings.API_MAX_JSON_DEPTH)
        except UntrustedInputError as exc:
            raise ScimError(400, f"the body is not acceptable JSON: {exc.message}", "invalidSyntax") from exc
        if not isinstance(doc, dict):
            raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
        return doc


class Page:
    """startIndex and count (RFC 7644 section 3.4.2.4): below 1 a start is 1 and a negative count 0;
    count is capped at SCIM_MAX_RESULTS, which is also its default."""

    def __init__(self, start: Any, count: Any) -> None:
        self.start = max(1, self._number("startIndex", start, 1))
        self.count = min(max(0, self._number("count", count, settings.SCIM_MAX_RESULTS)), settings.SCIM_MAX_RESULTS)

    @staticmethod
    def _number(label: str, value: Any, default: int) -> int:
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f"{label}: must be a whole number")
        if isinstance(value, int):
            return max(min(value, 10**9), -(10**9))
        text = str(value).strip()
        if not text.lstrip("-").isdigit() or len(text) > 12:
            raise bad_request(f"{label}: must be a whole number, got {text[:20]!r}")
        return int(text)


def _names(value: Any, label: str) -> set[str]:
    if value is None or value == "":
        return set()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise bad_request(f"{label}: must be a comma-separated list of attribute names")
    names = set()
    for item in items:
        name = item.strip().lower()
        for urn in (SchemaURI.USER.lower(), SchemaURI.GROUP.lower()):
            name = name.removeprefix(urn + ":")
        names.add(name.split(".", 1)[0])
    return names


class Projection:
    """``attributes`` / ``excludedAttributes`` on the top-level attributes (id and schemas always stay)."""

    def __init__(self, attributes: Any, excluded: Any) -> None:
        self.only = _names(attributes, "attributes")
        self.excluded = _names(excluded, "excludedAttributes") - ALWAYS_RETURNED

    def wants(self, name: str) -> bool:
        name = name.lower()
        return name in ALWAYS_RETURNED or (name not in self.excluded and (not self.only or name in self.only))

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in doc.items() if self.wants(key)}


class ResourceList(ScimEndpoint):
    users = True

    def queryset(self, projection: Projection) -> QuerySet[Any]:
        raise NotImplementedError

    def render(self, obj: Any, projection: Projection) -> dict[str, Any]:
        raise NotImplementedError

    def listing(self, params: dict[str, Any]) -> HttpResponse:
        projection = Projection(params.get("attributes"), params.get("excludedAttributes"))
        page = Page(params.get("startIndex"), params.get("count"))
        qs = self.queryset(projection)
        text = params.get("filter")
        if text is not None and not isinstance(text, str):
            raise ScimError(400, "filter: must be a string", "invalidFilter")
        if text:
            qs = filter_queryset(qs, text, users=self.users)
        total = qs.count()
        rows = list(qs[page.start - 1: page.start - 1 + page.count]) if page.count else []
        return scim_json({
            "schemas": [SchemaURI.LIST_RESPONSE], "totalResults": total, "itemsPerPage": len(rows),
            "startIndex": page.start, "Resources": [projection.apply(self.render(o, projection)) for o in rows],
        })


class SearchMixin(ResourceList):
    """POST …/.search with a SearchRequest body (RFC 7644 section 3.4.3): the same list as a GET."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        body = self.body()
        if SchemaURI.SERACH_REQUEST not in (body.get("schemas") or []):
            raise ScimError(400, f"schemas: a search needs {SchemaURI.SERACH_REQUEST}", "invalidSyntax")
        return self.listing(body)


# --- Users ---------------------------------------------------------------------------------------

def _users(with_groups: bool = True) -> QuerySet[Any]:
    qs = scim_visible_users().select_related("provisioning").order_by("pk")
    if with_groups:
        qs = qs.prefetch_related(Prefetch("scim_groups", queryset=ScimGroup.objects.order_by("pk")))
    return qs


class UsersMixin(ResourceList):
    users = True

    def queryset(self, projection: Projection) -> QuerySet[Any]:
        return _users(with_groups=projection.wants("groups"))

    def render(self, obj: Any, projection: Projection) -> dict[str, Any]:
        return adapters.ScimUserAdapter(obj, self.request).to_dict()


class UsersView(UsersMixin, scim_views.UsersView):  # type: ignore[misc]  # django-scim2 ships no types
    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.listing(request.GET.dict())

    def post(self, request: HttpRequest) -> HttpResponse:
        data = adapters.user_from_body(self.body(), None)
        user = scim_user_create(client=self.client, data=data)
        return self.one(user.pk, status=201)

    def one(self, pk: int, status: int = 200) -> HttpResponse:
        user = _users().get(pk=pk)
        adapter = adapters.ScimUserAdapter(user, self.request)
        projection = Projection(self.request.GET.get("attributes"), self.request.GET.get("excludedAttributes"))
        return scim_json(projection.apply(adapter.to_dict()), status, adapter.location)


class UserView(UsersView):
    http_method_names = ["get", "put", "patch", "delete"]

    def user_id(self, ident: str) -> int:
        if not (ident.isascii() and ident.isdigit() and len(ident) < 19) or not _users(False).filter(
                pk=int(ident)).exists():
            raise not_found("user", ident)
        return int(ident)

    def get(self, request: HttpRequest, uuid: str) -> HttpResponse:  # type: ignore[override]
        return self.one(self.user_id(uuid))

    def put(self, request: HttpRequest, uuid: str) -> HttpResponse:
        pk = self.user_id(uuid)
        current = user_data_of(_users(False).get(pk=pk))
        scim_user_update(client=self.client, user_id=pk, data=adapters.user_from_body(self.body(), current))
        return self.one(pk)

    def patch(self, request: HttpRequest, uuid: str) -> HttpResponse:
        pk = self.user_id(uuid)
        current = user_data_of(_users(False).get(pk=pk))
        scim_user_update(client=self.client, user_id=pk, data=adapters.user_apply_patch(current, self.body()))
        return self.one(pk)

    def delete(self, request: HttpRequest, uuid: str) -> HttpResponse:
        scim_user_delete(client=self.client, user_id=self.user_id(uuid))
        return HttpResponse(status=204)


class UsersSearchView(UsersMixin, SearchMixin):
    pass


# --- Groups --------------------------------------------------------------------------------------

def _groups(with_members: bool = True) -> QuerySet[ScimGroup]:
    qs = ScimGroup.objects.order_by("pk")
    if with_members:
        qs = qs.prefetch_related(Prefetch("members", queryset=scim_visible_users().only("pk", "username")
                                          .order_by("pk")))
    return qs


class GroupsMixin(ResourceList):
    users = False

    def queryset(self, projection: Projection) -> QuerySet[Any]:
        return _groups(with_members=projection.wants("members"))

    def render(self, obj: Any, projection: Projection) -> dict[str, Any]:
        return adapters.ScimGroupAdapter(obj, self.request, with_members=projection.wants("members")).to_dict()


class GroupsView(GroupsMixin, scim_views.GroupsView):  # type: ignore[misc]  # django-scim2 ships no types
    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.listing(request.GET.dict())

    def post(self, request: HttpRequest) -> HttpResponse:
        group = scim_group_create(client=self.client, data=adapters.group_from_body(self.body()))
        return self.one(group.pk, status=201)

    def one(self, pk: int, status: int = 200) -> HttpResponse:
        projection = Projection(self.request.GET.get("attributes"), self.request.GET.get("excludedAttributes"))
        group = _groups(projection.wants("members")).get(pk=pk)
        adapter = adapters.ScimGroupAdapter(group, self.request, with_members=projection.wants("members"))
        return scim_json(projection.apply(adapter.to_dict()), status, adapter.location)


class GroupView(GroupsView):
    http_method_names = ["get", "put", "patch", "delete"]

    def group_pk(self, ident: str) -> int:
        try:
            key = uuid.UUID(ident)
        except ValueError:
            raise not_found("group", ident) from None
        pk = ScimGroup.objects.filter(scim_id=key).values_list("pk", flat=True).first()
        if pk is None:
            raise not_found("group", ident)
        return pk

    def current(self, pk: int) -> GroupData:
        group = _groups().get(pk=pk)
        return GroupData(display_name=group.display_name, external_id=group.external_id,
                         members=frozenset(u.pk for u in group.members.all()))

    def get(self, request: HttpRequest, uuid: str) -> HttpResponse:  # type: ignore[override]
        return self.one(self.group_pk(uuid))

    def put(self, request: HttpRequest, uuid: str) -> HttpResponse:
        pk = self.group_pk(uuid)
        scim_group_update(client=self.client, group_id=pk, data=adapters.group_from_body(self.body()))
        return self.one(pk)

    def patch(self, request: HttpRequest, uuid: str) -> HttpResponse:
        pk = self.group_pk(uuid)
        data = adapters.group_apply_patch(self.current(pk), self.body())
        scim_group_update(client=self.client, group_id=pk, data=data)
        return self.one(pk)

    def delete(self, request: HttpRequest, uuid: str) -> HttpResponse:
        scim_group_delete(client=self.client, group_id=self.group_pk(uuid))
        return HttpResponse(status=204)


class GroupsSearchView(GroupsMixin, SearchMixin):
    pass


# --- Discovery -----------------------------------------------------------------------------------

class ServiceProviderConfigView(ScimEndpoint, scim_views.ServiceProviderConfigView):  # type: ignore[misc]  # django-scim2 ships no types
    http_method_names = ["get"]


class ResourceTypesView(ScimEndpoint, scim_views.ResourceTypesView):  # type: ignore[misc]  # django-scim2 ships no types
    http_method_names = ["get"]

    def get(self, request: HttpRequest, uuid: str | None = None) -> HttpResponse:
        types = self.type_dict_by_type_id(request)
        if uuid is not None:
            if uuid not in types:
                raise not_found("resource type", uuid)
            return scim_json(types[uuid])
        listed = sorted(types.values(), key=lambda t: str(t["id"]))
        return scim_json({"schemas": [SchemaURI.LIST_RESPONSE], "totalResults": len(listed),
                          "itemsPerPage": len(listed), "startIndex": 1, "Resources": listed})


class SchemasView(ScimEndpoint, scim_views.SchemasView):  # type: ignore[misc]  # django-scim2 ships no types
    """The schemas django-scim2 ships (User, Group, the enterprise extension and the discovery ones)."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest, uuid: str | None = None) -> HttpResponse:
        schemas: dict[str, Any] = self.schemas_by_uri
        if uuid is not None:
            if uuid not in schemas:
                raise not_found("schema", uuid)
            return scim_json(schemas[uuid])
        listed = [schemas[key] for key in sorted(schemas)]
        return scim_json({"schemas": [SchemaURI.LIST_RESPONSE], "totalResults": len(listed),
                          "itemsPerPage": len(listed), "startIndex": 1, "Resources": listed})
