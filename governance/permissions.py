"""Who may see and do what in governance: reviews and their queues, decision records, waivers, gate
calls and exports.

Views, services, templates and the API ask these functions; the ``visible_to`` querysets are the
entry point for reads and delegate their filter here. Rules about a system itself (who sees it, who
changes it) are the catalog's and rules about requests and triage are intake's: this module builds on
them rather than restating them. Roles are named in ``clearance.roles`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Q, QuerySet

from catalog.permissions import can_edit_system, is_active_user, of_visible_systems
from clearance.roles import GOVERNANCE_TEAM, has_role, reads_portfolio, roles_of
from governance.choices import WaiverStatus
from governance.policy.reviews import kind_role, kinds_for_roles

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from catalog.models import AISystem
    from governance.models import DecisionRecord, Review, Waiver

QS = TypeVar("QS", bound=QuerySet[Any])


# --- Reviews -------------------------------------------------------------------------------------------


def queue_kinds(user: User | AnonymousUser | None) -> list[str]:
    """The review kinds whose queue this user works (their role decides reviews of that kind)."""
    return kinds_for_roles(roles_of(user))


def visible_reviews(user: User | AnonymousUser | None, reviews: QS) -> QS:
    """Every review for the portfolio's readers; else the kinds one works, one's own requests and
    assignments, and the reviews of the systems one owns (opened on the system itself or on the request
    it came from: the system page lists both, so its owners open both)."""
    if reads_portfolio(user):
        return reviews.all()
    if not is_active_user(user):
        return reviews.none()
    return reviews.filter(
        Q(kind__in=queue_kinds(user)) | Q(request__requester=user) | Q(assignee=user)
        | Q(system__business_owner=user) | Q(system__technical_owner=user) | Q(system__risk_owner=user)
        | Q(request__system__business_owner=user) | Q(request__system__technical_owner=user)
        | Q(request__system__risk_owner=user)
    )


def can_read_dashboard(user: User | AnonymousUser | None) -> bool:
    """The portfolio dashboard's measures span every system, request and review: for the portfolio's
    readers only."""
    return reads_portfolio(user)


def can_view_review(user: User | AnonymousUser | None, review: Review) -> bool:
    """The same rule as ``visible_reviews`` for one review in hand; pages ask it before linking one.
    Reads ``review.system`` and ``review.request.system`` (select them to save the queries)."""
    if reads_portfolio(user):
        return True
    if not is_active_user(user):
        return False
    pk = getattr(user, "pk", None)
    if review.kind in queue_kinds(user) or review.assignee_id == pk:
        return True
    if review.system is not None and pk in review.system.owner_ids():
        return True
    request = review.request
    if request is None:
        return False
    return request.requester_id == pk or (request.system is not None and pk in request.system.owner_ids())


def can_view_queue(user: User | AnonymousUser | None, kind: str) -> bool:
    """A review kind's queue is for the reviewers of that kind and the portfolio's readers."""
    return can_work_queue(user, kind) or reads_portfolio(user)


def can_work_queue(user: User | AnonymousUser | None, kind: str) -> bool:
    """Whether the user holds the role that claims and decides reviews of this kind."""
    role = kind_role(kind)
    return role is not None and has_role(user, role)


def queue_reviews(user: User | AnonymousUser | None, kind: str, reviews: QS) -> QS:
    return reviews.filter(kind=kind) if can_view_queue(user, kind) else reviews.none()


def reviewer_refusal(user: User | AnonymousUser | None, review: Review) -> str | None:
    """Why ``user`` may not claim or decide ``review``, or None when they may."""
    role = kind_role(review.kind)
    if role is None:
        return f"the review kind {review.kind!r} is no longer in the review policy"
    if not has_role(user, role):
        return f"only a {role.value.replace('-', ' ')} can act on this review"
    # Four eyes: nobody reviews their own request.
    pk = getattr(user, "pk", None)
    if review.request is not None and review.request.requester_id == pk:
        return "you cannot review your own request"
    if review.system is not None and pk in review.system.owner_ids():
        return "an owner of the system cannot review it"
    return None


def can_decide_review(user: User | AnonymousUser | None, review: Review) -> bool:
    """Claim and decide: a reviewer of the kind, never on their own request or system (its state aside)."""
    return reviewer_refusal(user, review) is None


def can_open_reviews(user: User | AnonymousUser | None) -> bool:
    return has_role(user, *GOVERNANCE_TEAM)


def can_assign_reviews(user: User | AnonymousUser | None) -> bool:
    return has_role(user, *GOVERNANCE_TEAM)


# --- Decision records ----------------------------------------------------------------------------------


def visible_decision_records(user: User | AnonymousUser | None, records: QS) -> QS:
    return of_visible_systems(user, records)


def can_record_decisions(user: User | AnonymousUser | None, system: AISystem) -> bool:
    """Propose and edit a system's decision records: those who may change the system."""
    return can_edit_system(user, system)


def can_decide_decision_record(user: User | AnonymousUser | None, record: DecisionRecord) -> bool:
    """Accept or reject: someone who may change the system, but not the record's author (four eyes)."""
    return can_record_decisions(user, record.system) and record.created_by_id != getattr(user, "pk", None)


# --- Waivers -------------------------------------------------------------------------------------------


def visible_waivers(user: User | AnonymousUser | None, waivers: QS) -> QS:
    return of_visible_systems(user, waivers)


def can_request_waiver(user: User | AnonymousUser | None, system: AISystem) -> bool:
    return can_edit_system(user, system)


def waiver_decide_refusal(user: User | AnonymousUser | None, waiver: Waiver) -> str | None:
    """Why ``user`` may not approve or reject ``waiver``, or None when they may."""
    pk = getattr(user, "pk", None)
    if pk is None or pk != waiver.system.risk_owner_id:
        return "only the system's risk owner may decide a waiver"
    if pk == waiver.requested_by_id:
        return "you requested this waiver; someone else must approve it (four eyes)"
    return None


def can_decide_waiver(user: User | AnonymousUser | None, waiver: Waiver) -> bool:
    return waiver_decide_refusal(user, waiver) is None


def can_revoke_waiver(user: User | AnonymousUser | None, waiver: Waiver) -> bool:
    """The risk owner or the governance team; the requester too while it still waits for a decision."""
    pk = getattr(user, "pk", None)
    return (
        (pk is not None and pk == waiver.system.risk_owner_id)
        or has_role(user, *GOVERNANCE_TEAM)
        or (waiver.status == WaiverStatus.REQUESTED and pk is not None and pk == waiver.requested_by_id)
    )


# --- Gate calls and exports ----------------------------------------------------------------------------


def visible_gate_checks(user: User | AnonymousUser | None, checks: QS) -> QS:
    return of_visible_systems(user, checks)


def visible_exports(user: User | AnonymousUser | None, exports: QS) -> QS:
    """An export is served only to those who may read its system."""
    return of_visible_systems(user, exports)
