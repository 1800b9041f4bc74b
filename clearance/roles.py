"""Roles are Django groups, created by a migration; this module is the one place that names them.

What a role may see and do is decided by the permission module of each app (``catalog.permissions``,
``intake.permissions``, ``governance.permissions``, ``clearance.permissions``), never here.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AnonymousUser, User


class Role(StrEnum):
    REQUESTER = "requester"
    GOVERNANCE_LEAD = "governance-lead"
    SECURITY_REVIEWER = "security-reviewer"
    LEGAL_REVIEWER = "legal-reviewer"
    PRIVACY_REVIEWER = "privacy-reviewer"
    SYSTEM_OWNER = "system-owner"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.REQUESTER: "Requester",
    Role.GOVERNANCE_LEAD: "Governance lead",
    Role.SECURITY_REVIEWER: "Security reviewer",
    Role.LEGAL_REVIEWER: "Legal reviewer",
    Role.PRIVACY_REVIEWER: "Privacy reviewer",
    Role.SYSTEM_OWNER: "System owner",
    Role.AUDITOR: "Auditor (read only)",
    Role.ADMIN: "Administrator",
}

# Roles that may read the whole portfolio (every request, system, review and the audit trail).
PORTFOLIO_READERS = frozenset({Role.GOVERNANCE_LEAD, Role.AUDITOR, Role.ADMIN})

# Roles that run governance: triage requests, open and assign reviews, change any system.
GOVERNANCE_TEAM = frozenset({Role.GOVERNANCE_LEAD, Role.ADMIN})

# Roles that review requests and systems, each in the queue of its review kind.
REVIEWERS = frozenset({Role.SECURITY_REVIEWER, Role.LEGAL_REVIEWER, Role.PRIVACY_REVIEWER})


# The attribute that caches a user's roles on the user object for the length of a request.
_ROLES_CACHE = "_clearance_roles"


def roles_of(user: User | AnonymousUser | None) -> frozenset[str]:
    """The user's role names, cached on the user object for the request."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, _ROLES_CACHE, None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {Role.ADMIN.value}
        setattr(user, _ROLES_CACHE, cached)
    return cached


def has_role(user: User | AnonymousUser | None, *roles: Role) -> bool:
    mine = roles_of(user)
    return any(role.value in mine for role in roles)


def reads_portfolio(user: User | AnonymousUser | None) -> bool:
    return has_role(user, *PORTFOLIO_READERS)
