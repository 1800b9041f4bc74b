"""API plumbing shared by every app: the JSON error body and the mapping of domain errors."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from clearance.errors import DomainError
from clearance.outages import is_outage, note_outage, outage_body, retry_after


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
