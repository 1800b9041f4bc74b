"""Who may see and change what in the catalog: systems (with their model cards, evidence settings and
everything hung on them), datasets and vendors.

Views, services, templates and the API ask these functions; the ``visible_to`` querysets are the
entry point for reads and delegate their filter here. Roles are named in ``clearance.roles`` only.
Closed by default: an anonymous or inactive user sees and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Q, QuerySet

from clearance.roles import GOVERNANCE_TEAM, REVIEWERS, Role, has_role, reads_portfolio

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from catalog.models import AISystem

# Each filter keeps the queryset's own class, so ``visible_to`` stays chainable with its siblings.
QS = TypeVar("QS", bound=QuerySet[Any])


def is_active_user(user: User | AnonymousUser | None) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def sees_whole_catalog(user: User | AnonymousUser | None) -> bool:
    """The governance team and auditors read the portfolio; reviewers read every system and register
    entry too, since a system-level review can reach them for any of them."""
    return reads_portfolio(user) or has_role(user, *REVIEWERS)


# --- Systems -------------------------------------------------------------------------------------------


def visible_systems(user: User | AnonymousUser | None, systems: QS) -> QS:
    """The systems this user may see: all of them for the readers above, else those they own or asked for."""
    if sees_whole_catalog(user):
        return systems.all()
    if not is_active_user(user):
        return systems.none()
    return systems.filter(Q(business_owner=user) | Q(technical_owner=user) | Q(risk_owner=user) | Q(requested_by=user))


def can_view_system(user: User | AnonymousUser | None, system: AISystem) -> bool:
    """The same rule as ``visible_systems`` for one system already in hand (no query)."""
    if sees_whole_catalog(user):
        return True
    if not is_active_user(user):
        return False
    pk = getattr(user, "pk", None)
    return pk in system.owner_ids() or pk == system.requested_by_id


def can_edit_system(user: User | AnonymousUser | None, system: AISystem) -> bool:
    """Owners and the governance team change a system and what hangs on it: settings, model cards,
    evidence sources, metric requirements and budget, decision records, waiver requests (no query)."""
    if not is_active_user(user):
        return False
    return getattr(user, "pk", None) in system.owner_ids() or has_role(user, *GOVERNANCE_TEAM)


def of_visible_systems(user: User | AnonymousUser | None, queryset: QS, field: str = "system") -> QS:
    """Rows that belong to a system the user may see (evidence, decisions, waivers, gate calls, exports)."""
    from catalog.models import AISystem

    return queryset.filter(**{f"{field}__in": visible_systems(user, AISystem.objects.all())})


# --- Evidence ------------------------------------------------------------------------------------------


def visible_evidence_sources(user: User | AnonymousUser | None, sources: QS) -> QS:
    return of_visible_systems(user, sources)


def visible_sync_runs(user: User | AnonymousUser | None, runs: QS) -> QS:
    return of_visible_systems(user, runs, "source__system")


# --- Datasets and vendors ------------------------------------------------------------------------------


def visible_datasets(user: User | AnonymousUser | None, datasets: QS) -> QS:
    """Every dataset for the catalog's readers; else the ones a user owns or that feed a system they see."""
    if sees_whole_catalog(user):
        return datasets.all()
    if not is_active_user(user):
        return datasets.none()
    from catalog.models import AISystem

    return datasets.filter(Q(owner=user) | Q(systems__in=visible_systems(user, AISystem.objects.all()))).distinct()


def visible_vendors(user: User | AnonymousUser | None, vendors: QS) -> QS:
    # The vendor register is reference information for everyone who signs in.
    if not is_active_user(user):
        return vendors.none()
    return vendors.all()


def can_edit_register(user: User | AnonymousUser | None) -> bool:
    """Who maintains datasets and vendors: the governance team and system owners."""
    if not is_active_user(user):
        return False
    return has_role(user, *GOVERNANCE_TEAM, Role.SYSTEM_OWNER)


# Roles whose holders may be named owner of a system: the people who ask for, build and run systems,
# and the governance team. A read-only auditor, a reviewer (who would review their own system) or a
# user without a role may not carry an owner's duties.
OWNING_ROLES = (Role.REQUESTER, Role.SYSTEM_OWNER, Role.GOVERNANCE_LEAD, Role.ADMIN)
OWNER_FIELDS = {"business": "Business owner", "technical": "Technical owner", "risk": "Risk owner"}


def can_own_system(user: User | AnonymousUser | None) -> bool:
    return user is not None and getattr(user, "is_active", False) and has_role(user, *OWNING_ROLES)


def owner_problems(**owners: Any) -> dict[str, list[str]]:
    """Each named owner (``business``, ``technical``, ``risk``; None for unassigned) who may not own
    a system, by field, with the field's label."""
    problems = {}
    for kind, user in owners.items():
        if user is not None and not can_own_system(user):
            problems[kind] = [f"{OWNER_FIELDS[kind]}: {user.get_username()} holds no role that may own a system "
                              f"(requester, system owner or governance lead)"]
    return problems

