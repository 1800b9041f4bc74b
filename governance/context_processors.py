"""Navigation for the base template: which queues, boards and pages this user has."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clearance.roles import Role, has_role, reads_portfolio, roles_of
from governance.policy.reviews import kind_label, kinds_for_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    mine = roles_of(user)
    return {
        "nav_queues": [(kind, f"{kind_label(kind)} queue") for kind in kinds_for_roles(mine)],
        "nav_is_lead": has_role(user, Role.GOVERNANCE_LEAD, Role.ADMIN),
        "nav_reads_portfolio": reads_portfolio(user),
        "nav_unread": user.notifications.filter(read_at=None).count(),
        "policy_problem": _policy_problem(),
    }


def _policy_problem() -> dict[str, Any] | None:
    """Shown on every page while the readiness policy on disk does not load (fail loud)."""
    from governance.policy.loader import load_readiness_policy, readiness_policy_problem

    problem = readiness_policy_problem()
    if problem is None:
        return None
    try:
        serving = load_readiness_policy().version[:12]
    except Exception:
        serving = None
    return {"message": str(problem), "serving": serving}
