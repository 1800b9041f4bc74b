"""SCIM error answers (RFC 7644 section 3.12): ``{"schemas": [Error URN], "status": "400",
"scimType": "invalidValue", "detail": "…"}`` with the same HTTP status. The status is a string, as
the RFC's schema and examples have it."""

from __future__ import annotations

import json
import math

from django.http import HttpResponse
from django_scim import exceptions as scim_exceptions
from django_scim.constants import SCIM_CONTENT_TYPE, SchemaURI


class ScimError(scim_exceptions.SCIMException):  # type: ignore[misc]  # django-scim2 ships no types
    """An answer other than success; ``scim_type`` is one of RFC 7644's error keywords, or None."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None, retry_after: float | None = None,
                 ) -> None:
        super().__init__(detail, status=status, scim_type=scim_type)
        self.retry_after = retry_after


def bad_request(detail: str, scim_type: str | None = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


def not_found(kind: str, ident: str) -> ScimError:
    return ScimError(404, f"no {kind} with id {ident[:80]!r}")


def error_response(error: ScimError) -> HttpResponse:
    body: dict[str, object] = {"schemas": [SchemaURI.ERROR], "status": str(error.status), "detail": error.detail}
    if error.scim_type:
        body["scimType"] = error.scim_type
    response = HttpResponse(json.dumps(body), status=error.status, content_type=SCIM_CONTENT_TYPE)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="clearance-scim"'
    if error.retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response
