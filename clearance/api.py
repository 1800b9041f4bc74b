"""API plumbing shared by every app: the JSON error body and the mapping of domain errors."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from clearance.errors import DomainError
from clearance.outages import is_outage, note_outage, outage_body, retry_after
from clearance.untrusted import UntrustedInputError, load_json


class BoundedJSONParser(JSONParser):
    """The API's only body format: JSON of at most ``API_MAX_BODY_BYTES``, nested at most
    ``API_MAX_JSON_DEPTH`` deep, with finite numbers. Anything else is a 400 before the parser
    recurses or the view sees it."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise exceptions.ParseError(f"the body is larger than {limit} bytes")
        try:
            return load_json(raw, max_depth=settings.API_MAX_JSON_DEPTH)
        except UntrustedInputError as exc:
            raise exceptions.ParseError(f"the body is not acceptable JSON: {exc.message}") from exc


@extend_schema_field({"type": "string", "anyOf": [{"format": "uri"}, {"maxLength": 0}],
                     "description": "An absolute URL, or empty when none is set."})
class OptionalURLField(serializers.CharField):
    """A URL field that may be blank: the schema says "a URI or the empty string", as it is."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    # The serializer metaclass takes declared fields off the class, so this does not replace
    # Serializer.fields at run time; the checker sees only the class attribute.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ErrorSerializer(serializers.Serializer[Any]):
    """Every API error: ``{"error": {"code", "message", "fields"?}}``."""

    error = ErrorDetailSerializer()


def signed_in_user(request: Request) -> User:
    """The user behind an API request. The default permission class already turned anonymous
    callers away; this says so to the type checker, and answers 401 should that ever change."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    return user


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            else:
                items = value if isinstance(value, list) else [value]
                out[str(key)] = [str(item) for item in items]
        return out
    return {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error answers ``{"error": {"code", "message", "fields"?}}``."""
    if is_outage(exc):  # the database is down or past its statement timeout: retry, never a 500
        note_outage(exc)
        return Response(outage_body(exc), status=503, headers={"Retry-After": retry_after()})
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.code, exc.message, fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("invalid", "the request is not valid", fields), status=400)
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) or {"non_field_errors": [str(d) for d in exc.detail]}
        names = ", ".join(sorted(fields))
        response.data = error_body("invalid", f"invalid field(s): {names}", fields)
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    elif isinstance(exc, Http404):
        response.data = error_body("not_found", "not found")
    return response
