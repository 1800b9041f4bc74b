"""Navigation for the base template: which queues, boards and pages this user has."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clearance.permissions import can_read_audit
from governance.permissions import queue_kinds
from governance.policy.reviews import kind_label
from intake.permissions import can_triage
from integrations.permissions import can_manage_webhooks


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_queues": [(kind, f"{kind_label(kind)} queue") for kind in queue_kinds(user)],
        "nav_is_lead": can_triage(user),
        "nav_reads_portfolio": can_read_audit(user),
        "nav_is_admin": can_manage_webhooks(user),
        "nav_unread": user.notifications.filter(read_at=None).count(),
        "policy_problem": _policy_problem(),
    }


def _policy_problem() -> dict[str, Any] | None:
    """Shown on every page while the readiness policy file on this host does not load, or while no
    active version can be used (fail loud)."""
    from clearance.policyfile import PolicyError
    from governance.policy.loader import load_readiness_policy, readiness_policy_problem

    problem = readiness_policy_problem()
    try:
        serving = load_readiness_policy().version[:12]
    except PolicyError as exc:
        return {"message": str(problem) if problem else "", "serving": None, "unavailable": exc.message}
    if problem is None:
        return None
    return {"message": str(problem), "serving": serving, "unavailable": ""}
