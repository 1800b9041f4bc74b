"""Who may see and do what in compliance: a system's statement of applicability and control status,
the portfolio coverage, attestations and operator profiles.

The rules build on the catalog's: whoever may see a system sees its compliance page and its
attestations; whoever may change a system (its owners and the governance team) attests its controls
and sets its operator role. The coverage page lists only the systems the reader may see. Roles are
named in ``clearance.roles`` only; closed by default for anonymous and inactive users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import QuerySet

from catalog.permissions import can_edit_system, can_view_system, is_active_user, of_visible_systems
from clearance.roles import GOVERNANCE_TEAM, has_role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from catalog.models import AISystem

QS = TypeVar("QS", bound=QuerySet[Any])


def can_view_compliance(user: User | AnonymousUser | None, system: AISystem) -> bool:
    return can_view_system(user, system)


def can_view_coverage(user: User | AnonymousUser | None) -> bool:
    """Every signed-in user; the page counts only the systems they may see."""
    return is_active_user(user)


def visible_attestations(user: User | AnonymousUser | None, attestations: QS) -> QS:
    return of_visible_systems(user, attestations)


def can_attest(user: User | AnonymousUser | None, system: AISystem) -> bool:
    """Attest a control, or set the system's operator role: those who may change the system."""
    return can_edit_system(user, system)


def can_import_frameworks(user: User | AnonymousUser | None) -> bool:
    """Add an organisation framework from an OSCAL catalog: it changes what every system is judged by."""
    return is_active_user(user) and has_role(user, *GOVERNANCE_TEAM)


def can_export_frameworks(user: User | AnonymousUser | None) -> bool:
    """Frameworks are the organisation's reference data, not any system's: every signed-in user."""
    return is_active_user(user)
