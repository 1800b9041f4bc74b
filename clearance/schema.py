"""OpenAPI description of the bearer token scheme (imported by the app config)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
