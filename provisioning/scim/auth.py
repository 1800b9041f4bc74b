"""Who may call the SCIM endpoints: a bearer token with the ``scim`` scope that belongs to a
provisioning client's service user. Sessions count for nothing here (an administrator signed in to
the app is not an identity provider), and CSRF does not apply: there is no cookie to ride on.

The token machinery is the API's (``clearance.tokens``): digests keyed by the pepper, expiry,
revocation, a deactivated service user, the per-address brake on invalid tokens (``BadTokenLimiter``),
and the per-token rate limit counted in the shared ``throttle`` cache (``SCIM_RATE_LIMIT``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clearance.tokens import BadTokenLimiter, Scope, TokenRateThrottle, resolve_token_why
from provisioning.models import ProvisioningClient
from provisioning.scim.errors import ScimError


class ScimRateThrottle(TokenRateThrottle):
    scope = "scim"
    rate_setting = "SCIM_RATE_LIMIT"


def authenticate(request: HttpRequest) -> ProvisioningClient:
    """The calling identity provider, or a ScimError (401, 403 or 429) that changes nothing."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    if not parts:
        raise ScimError(401, "send the provisioning token as 'Authorization: Bearer clr_…'")
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise ScimError(401, "the Authorization header must be 'Bearer <token>'")
    token, why = resolve_token_why(parts[1])
    if token is None:
        wait = BadTokenLimiter().failed(request)
        if wait is not None:
            raise ScimError(429, "too many invalid tokens from this address", retry_after=wait)
        raise ScimError(401, why)
    if Scope.SCIM not in token.scopes:
        raise ScimError(403, f"the token lacks the '{Scope.SCIM}' scope")
    client = ProvisioningClient.objects.filter(user_id=token.user_id).select_related("user").first()
    if client is None:
        raise ScimError(403, "the token does not belong to a provisioning client")
    carrier: Any = request
    carrier.auth = token  # the throttle counts per token
    throttle = ScimRateThrottle()
    if not throttle.allow_request(carrier, None):
        raise ScimError(429, "too many SCIM requests for this token; retry later", retry_after=throttle.wait())
    return client
