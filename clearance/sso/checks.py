"""System checks for single sign-on's settings (run by ``manage.py check``, ``migrate`` and ``demo``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
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
