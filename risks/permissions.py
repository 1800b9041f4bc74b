"""Who may see and change the risk register.

A risk is seen by whoever sees one of its systems (``catalog.permissions.visible_systems``); it is
recorded and edited by whoever may edit all of its systems (their owners and the governance team),
portfolio-wide risks by the governance team only; a residual risk is accepted for a system by that
system's risk owner alone. Closed by default: an anonymous or inactive user sees and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Q, QuerySet

from catalog.permissions import (
    can_edit_system,
    can_view_system,
    is_active_user,
    sees_whole_catalog,
    visible_systems,
)
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


# --- Incidents -----------------------------------------------------------------------------------------
# An incident may describe harm to people and is read by fewer than its systems' readers: the readers
# of the whole portfolio, the owners of a linked system, its reporter and its handler. Anyone may report
# one on a system they see; the owners of a linked system, the handler and the governance team handle it.


def visible_incidents(user: User | AnonymousUser | None, incidents: QS) -> QS:
    if reads_portfolio(user):
        return incidents.all()
    if not is_active_user(user):
        return incidents.none()
    from catalog.models import AISystem

    owned = AISystem.objects.filter(Q(business_owner=user) | Q(technical_owner=user) | Q(risk_owner=user))
    return incidents.filter(
        Q(pk__in=incidents.model.objects.filter(systems__in=owned).values("pk"))
        | Q(reported_by=user) | Q(owner=user)
    )


def can_report_incident(user: User | AnonymousUser | None, systems: Iterable[AISystem]) -> bool:
    """Anyone active reports an incident on systems they may see (no query)."""
    linked = list(systems)
    return is_active_user(user) and bool(linked) and all(can_view_system(user, s) for s in linked)


def can_view_incident_register(user: User | AnonymousUser | None) -> bool:
    return is_active_user(user)


def can_handle_incident(user: User | AnonymousUser | None, incident: Any, systems: Iterable[AISystem]) -> bool:
    """Move, classify and record the report of an incident: its handler, the owners of a linked system and
    the governance team (no query; ``systems`` are the incident's)."""
    if not is_active_user(user):
        return False
    if has_role(user, *GOVERNANCE_TEAM):
        return True
    pk = getattr(user, "pk", None)
    return pk == incident.owner_id or any(pk in s.owner_ids() for s in systems)
