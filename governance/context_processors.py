"""Navigation for the base template: which queues, boards and pages this user has."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clearance.permissions import can_read_audit
from governance.permissions import queue_kinds
from governance.policy.reviews import kind_label
from intake.permissions import can_triage


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_queues": [(kind, f"{kind_label(kind)} queue") for kind in queue_kinds(user)],
        "nav_is_lead": can_triage(user),
        "nav_reads_portfolio": can_read_audit(user),
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
