"""Who may see and do what with use-case requests, their timeline and attachments, and triage.

Views, services, templates and the API ask these functions; the ``visible_to`` querysets are the
entry point for reads and delegate their filter here. Roles are named in ``clearance.roles`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Q, QuerySet

from clearance.roles import GOVERNANCE_TEAM, REVIEWERS, has_role, reads_portfolio
from intake.choices import EDITABLE, RequestStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from intake.models import UseCaseRequest

QS = TypeVar("QS", bound=QuerySet[Any])

# Reviewers see the requests that reached review; drafts and triage stay with the requester and the
# governance team.
REVIEWER_VISIBLE_STATES = (
    RequestStatus.IN_REVIEW,
    RequestStatus.APPROVED,
    RequestStatus.REJECTED,
    RequestStatus.CHANGES_REQUESTED,
)


def _active(user: User | AnonymousUser | None) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def visible_requests(user: User | AnonymousUser | None, requests: QS) -> QS:
    """Every request for the portfolio's readers; else one's own, the requests the systems one owns came
    from (an owner answers for what was asked and decided there), and for reviewers those in review or
    decided."""
    if reads_portfolio(user):
        return requests.all()
    if not _active(user):
        return requests.none()
    visible = Q(requester=user) | Q(system__business_owner=user) | Q(system__technical_owner=user) | Q(
        system__risk_owner=user)
    if has_role(user, *REVIEWERS):
        visible |= Q(status__in=REVIEWER_VISIBLE_STATES)
    return requests.filter(visible)


def can_view_request(user: User | AnonymousUser | None, request: UseCaseRequest) -> bool:
    """The same rule as ``visible_requests`` for one request already in hand (reads ``request.system``)."""
    if reads_portfolio(user):
        return True
    if not _active(user):
        return False
    if is_requester(user, request):
        return True
    if request.system is not None and getattr(user, "pk", None) in request.system.owner_ids():
        return True
    return has_role(user, *REVIEWERS) and request.status in REVIEWER_VISIBLE_STATES


def of_visible_requests(user: User | AnonymousUser | None, queryset: QS) -> QS:
    """Timeline entries and attachments: those of a request the user may see."""
    from intake.models import UseCaseRequest

    return queryset.filter(request__in=visible_requests(user, UseCaseRequest.objects.all()))


def is_requester(user: User | AnonymousUser | None, request: UseCaseRequest) -> bool:
    """Only the requester changes the answers, submits and withdraws (the state table says when)."""
    pk = getattr(user, "pk", None)
    return pk is not None and pk == request.requester_id


def can_edit_request(user: User | AnonymousUser | None, request: UseCaseRequest) -> bool:
    """The requester edits a draft or a request sent back for changes."""
    return is_requester(user, request) and request.status in EDITABLE


def can_triage(user: User | AnonymousUser | None) -> bool:
    """The governance team triages: tier, owners, the catalog system, the triage board and agenda."""
    return has_role(user, *GOVERNANCE_TEAM)
