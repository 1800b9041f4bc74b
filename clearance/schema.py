"""The OpenAPI description: the bearer token scheme, and the errors every operation can answer.

Every error the API sends has the same body (``clearance.api.ErrorSerializer``), and the schema
lists each status an operation can really answer, so a client generated from it (or schemathesis,
which the test suite runs over it) meets no undocumented status."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse


# drf-spectacular leaves its extension registry hook (__init_subclass__) unannotated.
class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "clearance.tokens.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "clr_<key id>_<secret>",
            "description": "An API token from `manage.py create_api_token` or the Tokens page; scopes gate:check, read, write.",
        }


RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "required": True,
                               "description": "Seconds until the caller may try again."}}


class ClearanceAutoSchema(AutoSchema):
    """drf-spectacular's schema plus the error responses each operation can give."""

    def error_responses(self) -> dict[str, str]:
        errors = {
            "401": "No credentials, or a token that is unknown, expired or revoked.",
            "403": "The token lacks the scope this operation needs, or the user may not do this.",
        }
        if self.method == "GET" and self._is_list_view():
            errors["400"] = "A filter value is not one of the allowed values."
            errors["404"] = "The page number is past the last page, or not a page number."
        if self.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            errors["400"] = ("The body is not a JSON object of at most API_MAX_BODY_BYTES nested at most "
                             "API_MAX_JSON_DEPTH deep, or a field is missing or invalid (named in `fields`).")
            errors["415"] = "The body is not `application/json`."
        if any("{" in part for part in self.path.split("/")):
            errors["404"] = "No such object, or one the caller may not see."
        too_many = "Too many invalid bearer tokens from this address (BAD_TOKEN_LIMIT per BAD_TOKEN_WINDOW_SECONDS)"
        if any(getattr(cls, "scope", None) == "gate" for cls in getattr(self.view, "throttle_classes", [])):
            too_many = f"The token's rate limit is reached, or: {too_many[0].lower()}{too_many[1:]}"
        errors["429"] = f"{too_many}; retry after `Retry-After` seconds."
        return errors

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        from clearance.api import ErrorSerializer

        for code, description in self.error_responses().items():
            if code not in responses:
                # drf-spectacular's own helper, untyped upstream.
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    OpenApiResponse(ErrorSerializer, description=description), code, None, direction)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code: Any, direction: Any = "response") -> Any:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) == "429":
            headers = {**RETRY_AFTER, **(headers or {})}
        return headers
