"""Writes to reviews: opening, claiming, deciding, reassigning, and settling the request they decide."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.notifications import notify
from clearance.outbox import outbox_complete
from clearance.people import name_of
from governance.choices import (
    REVIEW_DECISIONS,
    REVIEW_TRANSITIONS,
    ReviewStatus,
)
from governance.models import Review
from governance.permissions import can_assign_reviews, can_open_reviews, reviewer_refusal
from governance.policy.reviews import review_kinds, review_sla
from governance.selectors.reviews import reviewers_of
from governance.services.approvals import approval_snapshot, approvals_recheck, snapshot_fingerprint
from intake.choices import RequestStatus
from intake.models import UseCaseRequest
from intake.services import (
    lock_request,
    request_set_tier,
    request_start_triage,
    request_transition,
)
from integrations.choices import EventKind
from integrations.events import emit

DEFAULT_APPROVAL_DAYS = 365


MAX_APPROVAL_DAYS = 3 * 365


def reviews_open(*, actor: User, request: UseCaseRequest, kinds: list[str]) -> list[Review]:
    """Open one review per kind (in parallel, each with its SLA) and move the request to review."""
    if not can_open_reviews(actor):
        raise NotAllowed("only the governance team opens reviews")
    unknown = set(kinds) - set(review_kinds())
    if not kinds or unknown:
        raise DomainError("choose at least one known review kind", field="kinds")
    opened = []
    with transaction.atomic():
        locked = lock_request(request)
        if locked.status not in (RequestStatus.TRIAGE, RequestStatus.IN_REVIEW):
            raise InvalidTransition("reviews are opened from triage")
        if not locked.risk_tier:
            raise DomainError("confirm the risk tier before opening reviews", field="risk_tier")
        if locked.system_id:
            # Lock order request → system → audit head, the order readiness_recompute uses after the
            # system: inserting a review takes a key-share lock on the system, and taking it after the
            # audit head deadlocked against a concurrent recompute.
            list(AISystem.objects.select_for_update().filter(pk=locked.system_id).values_list("pk", flat=True))
        live = set(
            Review.objects.filter(request=locked).exclude(status=ReviewStatus.REJECTED).values_list("kind", flat=True)
        )
        now = timezone.now()
        for kind in sorted(set(kinds) - live):
            review = Review.objects.create(
                kind=kind, request=locked, system=locked.system, opened_by=actor, opened_at=now,
                due_at=now + review_sla(kind, locked.risk_tier),
            )
            audit_record(actor=actor, action="review.opened", obj=review,
                         data={"kind": kind, "request": locked.pk, "due_at": review.due_at})
            notify(
                recipients=reviewers_of(kind).exclude(pk=locked.requester_id),
                subject=f"{review.get_kind_display()} review needed: {locked.title}",
                body=f"{locked.reference} waits in the {kind} queue; due {review.due_at:%Y-%m-%d}.",
                url=review.get_absolute_url(),
            )
            opened.append(review)
        if locked.status == RequestStatus.TRIAGE:
            request_transition(actor=actor, request=locked, to=RequestStatus.IN_REVIEW,
                               data={"reviews": sorted(set(kinds))})
        if locked.system is not None:
            readiness_changed(system=locked.system, reason="reviews opened")
    return opened


def _check_reviewer(actor: User, review: Review) -> None:
    refusal = reviewer_refusal(actor, review)
    if refusal:
        raise NotAllowed(refusal)


def review_claim(*, actor: User, review: Review) -> Review:
    with transaction.atomic():
        locked = Review.objects.select_for_update(of=("self",)).select_related("request", "system").get(pk=review.pk)
        _check_reviewer(actor, locked)
        if locked.status != ReviewStatus.OPEN:
            raise InvalidTransition("only an open review can be claimed")
        if locked.assignee_id and locked.assignee_id != actor.pk:
            raise InvalidTransition(f"already claimed by {locked.assignee}")
        if locked.assignee_id != actor.pk:
            locked.assignee = actor
            locked.save(update_fields=["assignee"])
            audit_record(actor=actor, action="review.claimed", obj=locked)
    return locked


def review_decide(
    *,
    actor: User,
    review: Review,
    decision: str,
    rationale: str,
    conditions: str = "",
    expires_at: datetime | None = None,
) -> Review:
    """Decide an open review; exactly one of two concurrent deciders wins, the other gets a conflict."""
    if decision not in REVIEW_DECISIONS:
        raise DomainError(f"decision must be one of {', '.join(REVIEW_DECISIONS)}", field="decision")
    if not rationale.strip():
        raise DomainError("explain the decision", field="rationale")
    now = timezone.now()
    if decision == ReviewStatus.APPROVED:
        expires_at = expires_at or now + timedelta(days=DEFAULT_APPROVAL_DAYS)
        if expires_at <= now:
            raise DomainError("an approval must expire in the future", field="expires_at")
        if expires_at > now + timedelta(days=MAX_APPROVAL_DAYS):
            raise DomainError(f"an approval lasts at most {MAX_APPROVAL_DAYS} days", field="expires_at")
    else:
        expires_at = None
    with transaction.atomic():
        # Lock order, request then review, is the same everywhere, so parallel reviews of one
        # request serialize on the request instead of deadlocking.
        request = lock_request(review.request_id) if review.request_id else None
        locked = Review.objects.select_for_update(of=("self",)).select_related("request", "system", "decided_by").get(pk=review.pk)
        _check_reviewer(actor, locked)
        if decision not in REVIEW_TRANSITIONS[locked.status]:
            who = f" by {locked.decided_by.get_username()}" if locked.decided_by else ""
            raise InvalidTransition(
                f"this review was already decided{who} ({locked.get_status_display().lower()}); reload to see it"
            )
        locked.status = decision
        locked.rationale = rationale.strip()
        locked.conditions = conditions.strip()
        locked.expires_at = expires_at
        locked.decided_by = actor
        locked.decided_at = now
        if locked.assignee_id is None:
            locked.assignee = actor
        if decision == ReviewStatus.APPROVED:
            # Pin the approval to what was reviewed; a material change later lapses it.
            locked.pinned = approval_snapshot(locked)
            locked.fingerprint = snapshot_fingerprint(locked.pinned)
        else:
            locked.pinned, locked.fingerprint = {}, ""
        locked.lapsed_at, locked.lapse_diff = None, []
        locked.save()
        audit_record(
            actor=actor,
            action=f"review.{decision}",
            obj=locked,
            data={"rationale": locked.rationale, "conditions": locked.conditions, "expires_at": expires_at,
                  "fingerprint": locked.fingerprint},
        )
        if request is not None:
            _settle_request(actor=actor, request=request)
        system = locked.system or (request.system if request else None)
        if system is not None:
            readiness_changed(system=system, reason=f"{locked.kind} review {decision}")
        emit(kind=EventKind.REVIEW_DECIDED, subject=locked, actor=actor,
             summary=f"{locked.get_kind_display()} review of {request.reference if request else system}: "
                     f"{locked.get_status_display().lower()}. {locked.rationale}",
             payload={"review_kind": locked.kind, "decision": decision,
                      "request": request.reference if request else None,
                      "system": system.slug if system else None, "conditions": locked.conditions,
                      "expires_at": expires_at})
    return locked


def review_reassign(*, actor: User, review: Review, assignee: User) -> Review:
    """The governance lead gives an open review to a reviewer of its kind (not the requester)."""
    if not can_assign_reviews(actor):
        raise NotAllowed("only the governance lead reassigns reviews")
    if assignee is None or not assignee.is_active:
        raise DomainError("choose an active reviewer", field="assignee")
    with transaction.atomic():
        locked = Review.objects.select_for_update(of=("self",)).select_related("request", "system", "assignee").get(
            pk=review.pk)
        if locked.status != ReviewStatus.OPEN:
            raise InvalidTransition("only an open review can be reassigned")
        refusal = reviewer_refusal(assignee, locked)
        if refusal:
            raise DomainError(f"{assignee.get_username()} cannot take it: {refusal}", field="assignee")
        before = locked.assignee.get_username() if locked.assignee else None
        if locked.assignee_id == assignee.pk:
            return locked
        locked.assignee = assignee
        locked.save(update_fields=["assignee"])
        audit_record(actor=actor, action="review.reassigned", obj=locked,
                     data={"from": before, "to": assignee.get_username()})
        notify(recipients=[assignee], subject=f"{locked.get_kind_display()} review assigned to you: {locked}",
               body=f"{name_of(actor)} assigned you this review; due {locked.due_at:%Y-%m-%d}.",
               url=locked.get_absolute_url())
    return locked


def triage_open_reviews(
    *, actor: User, request: UseCaseRequest, kinds: list[str], assignees: dict[str, Any] | None = None,
    confirm_suggested_tier: bool = False,
) -> list[Review]:
    """Bulk triage of one request in one transaction: start triage if needed, confirm the suggested
    tier if asked and none is set, open the reviews and assign them."""
    with transaction.atomic():
        locked = lock_request(request)
        if locked.status == RequestStatus.SUBMITTED:
            request_start_triage(actor=actor, request=locked)
            locked.refresh_from_db()
        if not locked.risk_tier and confirm_suggested_tier and locked.suggested_tier:
            request_set_tier(actor=actor, request=locked, tier=locked.suggested_tier)
            locked.refresh_from_db()
        opened = reviews_open(actor=actor, request=locked, kinds=kinds)
        for review in Review.objects.filter(request=locked, kind__in=list(assignees or {}), status=ReviewStatus.OPEN):
            who = (assignees or {}).get(review.kind)
            if who is not None:
                review_reassign(actor=actor, review=review, assignee=who)
    return opened


def _settle_request(*, actor: User, request: UseCaseRequest) -> None:
    """Move a request in review once its reviews say so: any rejection rejects, any request for
    changes sends it back, and it is approved only when every review approved."""
    if request.status != RequestStatus.IN_REVIEW:
        return
    statuses = set(Review.objects.filter(request=request).values_list("status", flat=True))
    if ReviewStatus.REJECTED in statuses:
        target = RequestStatus.REJECTED
    elif ReviewStatus.CHANGES_REQUESTED in statuses and ReviewStatus.OPEN not in statuses:
        target = RequestStatus.CHANGES_REQUESTED
    elif statuses == {ReviewStatus.APPROVED}:
        target = RequestStatus.APPROVED
    else:
        return
    request_transition(actor=actor, request=request, to=target)
    notify(
        recipients=[request.requester],
        subject=f"{request.reference} {RequestStatus(target).label.lower()}",
        body=f"Your request '{request.title}' is now {RequestStatus(target).label.lower()}.",
        url=request.get_absolute_url(),
    )


def reviews_reopen_after_resubmission(*, request_id: int, outbox_id: int | None = None) -> int:
    """Reopen the reviews that asked for changes (idempotent: only those still in that state).
    The outbox message is completed only after the approvals recheck too, so a worker that dies in
    between leaves the whole step to run again."""
    with transaction.atomic():
        request = lock_request(request_id)
        reviews = list(
            Review.objects.select_for_update().filter(request=request, status=ReviewStatus.CHANGES_REQUESTED)
        )
        for review in reviews:
            asked_by = review.decided_by or review.assignee
            # The earlier decision stays in the audit trail; the open review starts clean.
            review.status = ReviewStatus.OPEN
            review.decided_at = None
            review.decided_by = None
            review.expires_at = None
            review.rationale = ""
            review.conditions = ""
            review.due_at = timezone.now() + review_sla(review.kind, request.risk_tier)
            review.save(update_fields=["status", "decided_at", "decided_by", "expires_at", "rationale", "conditions",
                                       "due_at"])
            audit_record(actor=None, action="review.reopened", obj=review,
                         data={"reason": "request resubmitted", "asked_by": getattr(asked_by, "username", None)})
            notify(
                recipients=[asked_by],
                subject=f"{request.reference} was resubmitted",
                body=f"The requester answered your request for changes on '{request.title}'.",
                url=review.get_absolute_url(),
            )
        if reviews and request.status == RequestStatus.SUBMITTED:
            # The request goes straight back to review: triage already happened.
            request_transition(actor=None, request=request, to=RequestStatus.TRIAGE, data={"auto": True})
            request_transition(actor=None, request=request, to=RequestStatus.IN_REVIEW, data={"auto": True})
        if reviews and request.system is not None:
            # Reopened reviews are facts of the system's readiness (open, no longer changes requested).
            readiness_changed(system=request.system, reason="reviews reopened after resubmission")
    # Approvals given before the changes stand only if the answers they were pinned to did not change.
    approvals_recheck(request_id=request_id, reason="answers changed on resubmission")
    with transaction.atomic():
        outbox_complete(message_id=outbox_id)
    return len(reviews)
