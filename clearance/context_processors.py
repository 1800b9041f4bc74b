from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clearance.roles import Role, has_role, reads_portfolio, roles_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    mine = roles_of(user)
    queues = [
        (kind, label)
        for kind, label, role in (
            ("security", "Security queue", Role.SECURITY_REVIEWER),
            ("legal", "Legal queue", Role.LEGAL_REVIEWER),
            ("privacy", "Privacy queue", Role.PRIVACY_REVIEWER),
            ("risk", "Risk queue", Role.GOVERNANCE_LEAD),
        )
        if role.value in mine
    ]
    return {
        "nav_queues": queues,
        "nav_is_lead": has_role(user, Role.GOVERNANCE_LEAD, Role.ADMIN),
        "nav_reads_portfolio": reads_portfolio(user),
        "nav_unread": user.notifications.filter(read_at=None).count(),
    }
