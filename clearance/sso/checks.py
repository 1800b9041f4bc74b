"""System checks for single sign-on's settings (run by ``manage.py check``, ``migrate`` and ``demo``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks import Error, Tags, register

from clearance.roles import Role


@register(Tags.security)
def group_roles_name_known_roles(app_configs: Any, **kwargs: Any) -> list[Error]:
    known = {role.value for role in Role}
    errors = []
    for group, roles in settings.OIDC_GROUP_ROLES.items():
        unknown = [role for role in roles if role not in known]
        if unknown:
            errors.append(Error(
                f"OIDC_GROUP_ROLES maps group {group!r} to unknown role(s) {', '.join(map(repr, unknown))}.",
                hint=f"Use the role names of clearance/roles.py: {', '.join(sorted(known))}.",
                id="clearance.E010",
            ))
    if settings.OIDC_ISSUER and not settings.OIDC_RP_CLIENT_ID:
        errors.append(Error("OIDC_ISSUER is set but OIDC_CLIENT_ID is not: single sign-on stays off.",
                            hint="Set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (or OIDC_CLIENT_SECRET_FILE).",
                            id="clearance.E011"))
    return errors


@register(Tags.security, deploy=True)
def provider_is_reached_over_https(app_configs: Any, **kwargs: Any) -> list[checks.Warning]:
    """The client secret and the codes travel to the IdP's endpoints; over plain HTTP anyone on the
    path can read them (the tests' provider on 127.0.0.1 is the only fair exception)."""
    urls = [settings.OIDC_ISSUER, settings.OIDC_OP_AUTHORIZATION_ENDPOINT, settings.OIDC_OP_TOKEN_ENDPOINT,
            settings.OIDC_OP_JWKS_ENDPOINT, settings.OIDC_OP_USER_ENDPOINT, settings.OIDC_OP_END_SESSION_ENDPOINT]
    plain = [url for url in urls if url and not url.startswith("https://")]
    if not plain:
        return []
    return [checks.Warning(f"single sign-on reaches the identity provider over plain HTTP: {', '.join(plain)}.",
                    hint="Use the provider's https:// issuer and endpoints.", id="clearance.W010")]
