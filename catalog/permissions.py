"""Who may see and change what in the catalog."""

from __future__ import annotations

from typing import Any

from clearance.roles import Role, has_role, reads_portfolio


def _sees_whole_register(user: Any) -> bool:
    return reads_portfolio(user) or has_role(user, Role.SECURITY_REVIEWER, Role.LEGAL_REVIEWER, Role.PRIVACY_REVIEWER)


def may_edit_register(user: Any) -> bool:
    """Who maintains datasets and vendors: the governance team and system owners."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return has_role(user, Role.GOVERNANCE_LEAD, Role.ADMIN, Role.SYSTEM_OWNER)
