"""Reading the provisioning settings from the environment; imported by clearance/settings.py, so it
imports nothing of Django's models (role names are checked against clearance.roles once the apps are
ready: provisioning.apps)."""

from __future__ import annotations

import json

from django.core.exceptions import ImproperlyConfigured


def scim_group_roles(raw: str) -> dict[str, tuple[str, ...]]:
    """``SCIM_GROUP_ROLES``: a JSON object from a group's displayName to a role or a list of roles.
    Keys are kept lower-cased: an IdP may change a group name's case without changing what it grants."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"SCIM_GROUP_ROLES must be a JSON object, e.g. "
                                   f'{{"AI Governance": "governance-lead"}}: {exc}') from exc
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured("SCIM_GROUP_ROLES must be a JSON object from a group name to a role or roles")
    mapping: dict[str, tuple[str, ...]] = {}
    for name, roles in parsed.items():
        listed = [roles] if isinstance(roles, str) else roles
        if not name.strip() or not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            raise ImproperlyConfigured(f"SCIM_GROUP_ROLES: the group {name!r} must map to a role name or a list of them")
        key = name.strip().lower()
        mapping[key] = tuple(sorted(set(mapping.get(key, ())) | set(listed)))
    return mapping
