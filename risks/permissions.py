"""Who may see and change the risk register.

A risk is seen by whoever sees one of its systems (``catalog.permissions.visible_systems``); it is
recorded and edited by whoever may edit all of its systems (their owners and the governance team),
portfolio-wide risks by the governance team only; a residual risk is accepted for a system by that
system's risk owner alone. Closed by default: an anonymous or inactive user sees and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import QuerySet

from catalog.permissions import can_edit_system, is_active_user, sees_whole_catalog, visible_systems
from clearance.roles import GOVERNANCE_TEAM, has_role, reads_portfolio

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from catalog.models import AISystem

QS = TypeVar("QS", bound=QuerySet[Any])


def visible_risks(user: User | AnonymousUser | None, risks: QS) -> QS:
    """Risks linked to at least one system the user may see."""
    if sees_whole_catalog(user):
        return risks.all()
    if not is_active_user(user):
        return risks.none()
    from catalog.models import AISystem

    return risks.filter(systems__in=visible_systems(user, AISystem.objects.all())).distinct()


def visible_acceptances(user: User | AnonymousUser | None, acceptances: QS) -> QS:
    if sees_whole_catalog(user):
        return acceptances.all()
    if not is_active_user(user):
        return acceptances.none()
    from catalog.models import AISystem

    return acceptances.filter(system__in=visible_systems(user, AISystem.objects.all()))


def can_view_portfolio_risks(user: User | AnonymousUser | None) -> bool:
    """The portfolio heat map: the readers of the whole portfolio."""
    return reads_portfolio(user)


def can_record_risk(
    user: User | AnonymousUser | None, systems: Iterable[AISystem], portfolio_wide: bool
) -> bool:
    """Owners of every linked system, and the governance team; portfolio-wide risks: the team only (no query)."""
    if not is_active_user(user):
        return False
    if has_role(user, *GOVERNANCE_TEAM):
        return True
    linked = list(systems)
    return not portfolio_wide and bool(linked) and all(can_edit_system(user, s) for s in linked)


def can_accept_risk(user: User | AnonymousUser | None, system: AISystem) -> bool:
    """Only the system's risk owner accepts a residual risk for it (no query)."""
    return (
        is_active_user(user)
        and system.risk_owner_id is not None
        and getattr(user, "pk", None) == system.risk_owner_id
    )
