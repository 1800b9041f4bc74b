"""Every governance write: reviews, decision records, readiness snapshots, gate checks."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.choices import ModelCardStatus
from catalog.models import AISystem, ModelCard
from catalog.services import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.models import ApiToken
from clearance.notifications import notify
from clearance.roles import Role, has_role
from governance.choices import (
    DECISION_TRANSITIONS,
    PASSING_STATUSES,
    REVIEW_DECISIONS,
    REVIEW_TRANSITIONS,
    DecisionStatus,
    RequirementStatus,
    ReviewStatus,
    Verdict,
)
from governance.models import DecisionRecord, GateCheck, ReadinessVerdict, Review, ReviewReminder
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import Policy, load_readiness_policy
from governance.review_policy import kind_role, load_review_policy, review_kinds, review_sla
from governance.selectors import collect_facts
from intake.choices import RequestStatus
from intake.models import UseCaseRequest
from intake.services import (
    ANSWER_FIELDS,
    lock_request,
    request_set_tier,
    request_start_triage,
    request_transition,
)

DEFAULT_APPROVAL_DAYS = 365
MAX_APPROVAL_DAYS = 3 * 365

log = logging.getLogger(__name__)


def _reviewers_of(kind: str) -> Any:
    role = kind_role(kind)
    if role is None:
        return get_user_model().objects.none()
    return get_user_model().objects.filter(groups__name=role.value, is_active=True)


# --- Reviews ----------------------------------------------------------------------------------------


def reviews_open(*, actor: Any, request: UseCaseRequest, kinds: list[str]) -> list[Review]:
    """Open one review per kind (in parallel, each with its SLA) and move the request to review."""
    if not has_role(actor, Role.GOVERNANCE_LEAD, Role.ADMIN):
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
                recipients=_reviewers_of(kind).exclude(pk=locked.requester_id),
                subject=f"{review.get_kind_display()} review needed: {locked.title}",
                body=f"{locked.reference} waits in the {kind} queue; due {review.due_at:%Y-%m-%d}.",
                url=review.get_absolute_url(),
            )
            opened.append(review)
        if locked.status == RequestStatus.TRIAGE:
            request_transition(actor=actor, request=locked, to=RequestStatus.IN_REVIEW,
                               data={"reviews": sorted(set(kinds))})
        if locked.system_id:
            readiness_changed(system=locked.system, reason="reviews opened")
    return opened


def reviewer_refusal(actor: Any, review: Review) -> str | None:
    """Why ``actor`` may not act on ``review``, or None when they may (pages ask the same rule)."""
    role = kind_role(review.kind)
    if role is None:
        return f"the review kind {review.kind!r} is no longer in the review policy"
    if not has_role(actor, role):
        return f"only a {role.value.replace('-', ' ')} can act on this review"
    # Four eyes: nobody reviews their own request.
    if review.request_id and review.request.requester_id == actor.pk:
        return "you cannot review your own request"
    if review.system_id and actor.pk in review.system.owner_ids():
        return "an owner of the system cannot review it"
    return None


def _check_reviewer(actor: Any, review: Review) -> None:
    refusal = reviewer_refusal(actor, review)
    if refusal:
        raise NotAllowed(refusal)


def review_claim(*, actor: Any, review: Review) -> Review:
    with transaction.atomic():
        locked = Review.objects.select_for_update(of=("self",)).select_related("request", "system").get(pk=review.pk)
        _check_reviewer(actor, locked)
        if locked.status != ReviewStatus.OPEN:
            raise InvalidTransition("only an open review can be claimed")
        if locked.assignee_id and locked.assignee_id != actor.pk:
            raise InvalidTransition(f"already claimed by {locked.assignee.get_username()}")
        if locked.assignee_id != actor.pk:
            locked.assignee = actor
            locked.save(update_fields=["assignee"])
            audit_record(actor=actor, action="review.claimed", obj=locked)
    return locked


def review_decide(
    *,
    actor: Any,
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
    return locked


def review_reassign(*, actor: Any, review: Review, assignee: Any) -> Review:
    """The governance lead gives an open review to a reviewer of its kind (not the requester)."""
    if not has_role(actor, Role.GOVERNANCE_LEAD, Role.ADMIN):
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
               body=f"{actor.get_username()} assigned you this review; due {locked.due_at:%Y-%m-%d}.",
               url=locked.get_absolute_url())
    return locked


def triage_open_reviews(
    *, actor: Any, request: UseCaseRequest, kinds: list[str], assignees: dict[str, Any] | None = None,
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


# --- Approval fingerprints --------------------------------------------------------------------------

# Answers that do not change what was approved (a retitle, the department, who could own it).
NOT_MATERIAL = frozenset({"title", "department", "kpi_target", "business_owner_candidate",
                          "technical_owner_candidate"})


def _jsonable(value: Any) -> Any:
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return value


def approval_snapshot(review: Review) -> dict[str, Any]:
    """What an approval is pinned to: the material answers, the model, the model card version."""
    request = review.request
    system = review.system or (request.system if request is not None else None)
    answers = {}
    if request is not None:
        answers = {name: _jsonable(getattr(request, f"{name}_id" if name.endswith("_candidate") else name))
                   for name in ANSWER_FIELDS if name not in NOT_MATERIAL}
    model: dict[str, Any] = {"vendor_model": getattr(request, "vendor_model", "") if request else ""}
    card_version = None
    if system is not None:
        model |= {"model_name": system.model_name, "model_version": system.model_version, "vendor": system.vendor}
        card_version = (
            ModelCard.objects.filter(system=system, status=ModelCardStatus.PUBLISHED).order_by("-version")
            .values_list("version", flat=True).first()
        )
    return {"answers": answers, "model": model, "model_card_version": card_version}


def snapshot_fingerprint(snapshot: dict[str, Any]) -> str:
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-level differences between two snapshots, with labels a reviewer understands."""
    labels = _answer_labels()
    rows = []
    for key in sorted(set(before.get("answers", {})) | set(after.get("answers", {}))):
        old, new = before.get("answers", {}).get(key), after.get("answers", {}).get(key)
        if old != new:
            rows.append({"field": f"answers.{key}", "label": labels.get(key, key), "before": old, "after": new})
    model_labels = {"vendor_model": "Vendor or model (request)", "model_name": "Model name", "model_version": "Model version",
                    "vendor": "Vendor (system)"}
    for key in sorted(set(before.get("model", {})) | set(after.get("model", {}))):
        old, new = before.get("model", {}).get(key), after.get("model", {}).get(key)
        if old != new:
            rows.append({"field": f"model.{key}", "label": model_labels.get(key, key), "before": old, "after": new})
    if before.get("model_card_version") != after.get("model_card_version"):
        rows.append({"field": "model_card_version", "label": "Published model card version",
                     "before": before.get("model_card_version"), "after": after.get("model_card_version")})
    return rows


def is_material(row: dict[str, Any]) -> bool:
    """A pinned fact that was known and changed (or was removed). Filling in what was unknown when
    the approval was given is not a change to what was approved."""
    return row["before"] not in (None, "", []) or row["field"].startswith("answers.")


def _answer_labels() -> dict[str, str]:
    from intake.forms import UseCaseRequestForm

    return {name: str(field.label) for name, field in UseCaseRequestForm.base_fields.items()} | {
        name: str(label) for name, label in UseCaseRequestForm.Meta.labels.items()}


def approvals_recheck(*, system_id: int | None = None, request_id: int | None = None, reason: str = "") -> list[int]:
    """Lapse every approval whose pinned fingerprint no longer matches (idempotent: a lapsed review
    is open and no longer checked). Returns the ids of the reviews that lapsed."""
    candidates = Review.objects.filter(status=ReviewStatus.APPROVED).exclude(fingerprint="")
    if system_id is not None:
        candidates = candidates.filter(Q(system_id=system_id) | Q(request__system_id=system_id))
    if request_id is not None:
        candidates = candidates.filter(request_id=request_id)
    lapsed = []
    for review in candidates.select_related("request", "system", "request__system"):
        if snapshot_fingerprint(approval_snapshot(review)) != review.fingerprint:
            if _lapse(review_id=review.pk, reason=reason):
                lapsed.append(review.pk)
    return lapsed


def _lapse(*, review_id: int, reason: str) -> bool:
    with transaction.atomic():
        request_id = Review.objects.filter(pk=review_id).values_list("request_id", flat=True).first()
        request = lock_request(request_id) if request_id else None
        locked = Review.objects.select_for_update(of=("self",)).select_related(
            "request", "system", "request__system", "decided_by").get(pk=review_id)
        if locked.status != ReviewStatus.APPROVED or not locked.fingerprint:
            return False
        now_snapshot = approval_snapshot(locked)
        new_fingerprint = snapshot_fingerprint(now_snapshot)
        if new_fingerprint == locked.fingerprint:
            return False
        diff = snapshot_diff(locked.pinned, now_snapshot)
        if not any(is_material(row) for row in diff):
            # Only facts that were unknown at approval were filled in (the model named, a first
            # model card published): the approval stands and is pinned to the fuller picture.
            locked.pinned, locked.fingerprint = now_snapshot, new_fingerprint
            locked.save(update_fields=["pinned", "fingerprint"])
            audit_record(actor=None, action="review.pin_extended", obj=locked,
                         data={"reason": reason, "fingerprint": new_fingerprint,
                               "filled_in": [row["field"] for row in diff]})
            return False
        approved_by = locked.decided_by
        tier = request.risk_tier if request is not None else (locked.system.risk_tier if locked.system else "")
        now = timezone.now()
        locked.status = ReviewStatus.OPEN
        locked.lapsed_at = now
        locked.lapse_diff = diff
        locked.due_at = now + review_sla(locked.kind, tier)
        locked.decided_by, locked.decided_at, locked.expires_at = None, None, None
        locked.assignee = approved_by
        locked.save()
        audit_record(actor=None, action="review.lapsed", obj=locked,
                     data={"reason": reason, "approved_by": getattr(approved_by, "username", None),
                           "fingerprint_before": locked.fingerprint, "fingerprint_after": new_fingerprint,
                           "changed": [row["field"] for row in diff]})
        if request is not None and request.status == RequestStatus.APPROVED:
            request_transition(actor=None, request=request, to=RequestStatus.IN_REVIEW,
                               data={"reason": f"{locked.kind} approval lapsed after a material change"})
        changed = ", ".join(row["label"] for row in diff) or "the pinned facts"
        notify(recipients=[approved_by] if approved_by else _reviewers_of(locked.kind),
               subject=f"Approval lapsed: {locked}",
               body=f"What you approved changed ({changed}); the review is open again. See the diff.",
               url=locked.get_absolute_url())
        if request is not None:
            notify(recipients=[request.requester], subject=f"{request.reference}: the {locked.kind} approval lapsed",
                   body=f"A material change ({changed}) reopened the {locked.kind} review.",
                   url=request.get_absolute_url())
        system = locked.system or (request.system if request is not None else None)
        if system is not None:
            readiness_changed(system=system, reason=f"{locked.kind} approval lapsed")
    return True


def _settle_request(*, actor: Any, request: UseCaseRequest) -> None:
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


def reviews_reopen_after_resubmission(*, request_id: int) -> int:
    """Reopen the reviews that asked for changes (idempotent: only those still in that state)."""
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
    # Approvals given before the changes stand only if the answers they were pinned to did not change.
    approvals_recheck(request_id=request_id, reason="answers changed on resubmission")
    return len(reviews)


# --- Decision records --------------------------------------------------------------------------------


DECISION_TEXT_FIELDS = ("title", "context", "options", "decision", "consequences")


def _decision_text(fields: dict[str, str]) -> dict[str, str]:
    missing = [name for name in ("title", "context", "decision") if not str(fields.get(name, "")).strip()]
    if missing:
        raise DomainError(f"{missing[0]} is required", field=missing[0])
    return {name: str(fields.get(name, "")).strip() for name in DECISION_TEXT_FIELDS}


def decision_record_propose(
    *, actor: Any, system: AISystem, title: str, context: str, decision: str, options: str = "",
    consequences: str = "", supersedes: DecisionRecord | None = None, request: UseCaseRequest | None = None,
) -> DecisionRecord:
    """Propose a record; naming an accepted record of the same system proposes to supersede it."""
    text = _decision_text({"title": title, "context": context, "decision": decision, "options": options,
                           "consequences": consequences})
    if supersedes is not None:
        if supersedes.system_id != system.pk:
            raise DomainError("a record supersedes only a record of the same system", field="supersedes")
        if supersedes.status != DecisionStatus.ACCEPTED:
            raise DomainError(f"{supersedes.reference} is {supersedes.get_status_display().lower()}; only an "
                              "accepted record can be superseded", field="supersedes")
    if request is not None and request.system_id not in (None, system.pk):
        raise DomainError("the request belongs to another system", field="request")
    with transaction.atomic():
        record = DecisionRecord.objects.create(system=system, created_by=actor, supersedes=supersedes,
                                               request=request, **text)
        audit_record(actor=actor, action="decision_record.proposed", obj=record,
                     data={"supersedes": supersedes.pk if supersedes else None,
                           "request": request.pk if request else None})
    return record


def decision_record_update(*, actor: Any, record: DecisionRecord, **fields: str) -> DecisionRecord:
    """Edit a proposed record; a decided one refuses (it changes only by being superseded)."""
    unknown = set(fields) - set(DECISION_TEXT_FIELDS)
    if unknown:
        raise DomainError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    with transaction.atomic():
        locked = DecisionRecord.objects.select_for_update(of=("self",)).select_related("system").get(pk=record.pk)
        if not locked.system.editable_by(actor):
            raise NotAllowed("only the system's owners or the governance lead edit its records")
        if locked.status != DecisionStatus.PROPOSED:
            raise InvalidTransition(
                f"{locked.reference} is {locked.get_status_display().lower()} and cannot be edited; "
                "propose a new record that supersedes it"
            )
        text = _decision_text({**{n: getattr(locked, n) for n in DECISION_TEXT_FIELDS}, **fields})
        changed = sorted(n for n, v in text.items() if getattr(locked, n) != v)
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, text[name])
        locked.save(update_fields=changed)
        audit_record(actor=actor, action="decision_record.edited", obj=locked, data={"fields": changed})
    return locked


def decision_facts(system: AISystem) -> dict[str, Any]:
    """The facts a decision is taken on, stored with it when it is decided."""
    card = (system.model_cards.filter(status="published").order_by("-version")
            .values("version", "published_at").first())
    return {
        "risk_tier": system.risk_tier,
        "model": f"{system.model_name} {system.model_version}".strip(),
        "vendor": system.vendor,
        "lifecycle_stage": system.lifecycle_stage,
        "model_card_version": card["version"] if card else None,
    }


def decision_record_decide(*, actor: Any, record: DecisionRecord, to: str) -> DecisionRecord:
    if to not in (DecisionStatus.ACCEPTED, DecisionStatus.REJECTED):
        raise DomainError("a proposed record is accepted or rejected", field="status")
    with transaction.atomic():
        locked = DecisionRecord.objects.select_for_update(of=("self",)).select_related("system").get(pk=record.pk)
        if not locked.system.editable_by(actor):
            raise NotAllowed("only the system's owners or the governance lead decide its records")
        if to not in DECISION_TRANSITIONS[locked.status]:
            raise InvalidTransition(f"a {locked.get_status_display().lower()} record cannot be {to}")
        if locked.created_by_id == actor.pk:
            raise NotAllowed("the author of a decision record cannot decide it: ask another owner or the governance lead")
        system = locked.system
        old = None
        if to == DecisionStatus.ACCEPTED and locked.supersedes_id:
            # Two proposals may name the same record: the lock makes one win, the other conflicts.
            old = DecisionRecord.objects.select_for_update().get(pk=locked.supersedes_id)
            if old.status != DecisionStatus.ACCEPTED:
                winner = old.superseded_by.filter(status=DecisionStatus.ACCEPTED).exclude(pk=locked.pk).first()
                by = f" by {winner.reference}" if winner else ""
                raise InvalidTransition(f"{old.reference} was already {old.get_status_display().lower()}{by}; "
                                        "this record can no longer supersede it")
        # Deciders first: once the status leaves 'proposed' the row is frozen by the database.
        locked.deciders.add(actor)
        locked.status = to
        locked.decided_at = timezone.now()
        locked.facts_snapshot = decision_facts(system)
        locked.save(update_fields=["status", "decided_at", "facts_snapshot"])
        audit_record(actor=actor, action=f"decision_record.{to}", obj=locked, data=locked.facts_snapshot)
        if old is not None:
            old.status = DecisionStatus.SUPERSEDED
            old.save(update_fields=["status"])
            audit_record(actor=actor, action="decision_record.superseded", obj=old,
                         data={"superseded_by": locked.pk})
        readiness_changed(system=system, reason=f"decision record {to}")
    return locked


def decision_chain(record: DecisionRecord) -> list[DecisionRecord]:
    """The supersession chain through ``record``, oldest first (every record it replaced and every
    accepted record that replaced it)."""
    chain = [record]
    seen = {record.pk}
    current = record
    while current.supersedes_id and current.supersedes_id not in seen:
        current = DecisionRecord.objects.select_related("created_by").get(pk=current.supersedes_id)
        seen.add(current.pk)
        chain.insert(0, current)
    current = record
    while True:
        nxt = (DecisionRecord.objects.filter(supersedes=current, status__in=[DecisionStatus.ACCEPTED,
                                                                              DecisionStatus.SUPERSEDED])
               .exclude(pk__in=seen).select_related("created_by").first())
        if nxt is None:
            break
        seen.add(nxt.pk)
        chain.append(nxt)
        current = nxt
    return chain


# --- Readiness ---------------------------------------------------------------------------------------


def readiness_recompute(*, system_id: int, reason: str = "") -> dict[str, str]:
    """Evaluate every environment and store the snapshot; audit each verdict that changed."""
    now = timezone.now()
    try:
        policy = load_readiness_policy()
    except Exception:
        # Fail closed: stored snapshots are dropped so nothing shows an out-of-date pass.
        ReadinessVerdict.objects.filter(system_id=system_id).delete()
        raise
    changed: dict[str, str] = {}
    with transaction.atomic():
        system = AISystem.objects.select_for_update(of=("self",)).select_related(
            "business_owner", "technical_owner", "risk_owner"
        ).get(pk=system_id)
        facts = collect_facts(system)
        previous = {v.environment: v for v in ReadinessVerdict.objects.filter(system=system)}
        for env in policy.environments:
            result = evaluate(policy, env, facts, now)
            old = previous.pop(env, None)
            ReadinessVerdict.objects.update_or_create(
                system=system,
                environment=env,
                defaults={
                    "verdict": result.verdict,
                    "policy_name": policy.name,
                    "policy_version": policy.version,
                    "requirements": with_since([r.as_json() for r in result.requirements],
                                               old.requirements if old else [], now),
                    "computed_at": now,
                    "valid_until": result.valid_until,
                },
            )
            if old is None or old.verdict != result.verdict:
                changed[env] = result.verdict
                audit_record(
                    actor=None,
                    action="readiness.changed",
                    obj=system,
                    data={"environment": env, "from": old.verdict if old else None, "to": result.verdict,
                          "reason": reason, "policy_version": policy.version,
                          "unmet": [r.id for r in result.unmet]},
                )
        ReadinessVerdict.objects.filter(system=system, environment__in=list(previous)).delete()
    return changed


def with_since(requirements: list[dict[str, Any]], previous: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Stamp each unmet requirement with since when it has been unmet: what the facts say, else
    carried from the previous snapshot while the status is unchanged, else now."""
    before = {r.get("id"): r for r in previous}
    for req in requirements:
        if req["status"] in PASSING_STATUSES:
            req["since"] = None
            continue
        old = before.get(req["id"])
        if not req.get("since"):
            carried = old.get("since") if old and old.get("status") == req["status"] else None
            req["since"] = carried or now.isoformat()
    return requirements


def readiness_due_for_recompute(now: datetime | None = None) -> list[int]:
    """Systems whose stored verdict depended on an approval or evidence that has since aged out."""
    now = now or timezone.now()
    return list(
        ReadinessVerdict.objects.filter(valid_until__lte=now).values_list("system_id", flat=True).distinct()
    )


# --- Gate ----------------------------------------------------------------------------------------------


def _gate_failure(req_id: str, title: str, message: str, fix: str) -> dict[str, Any]:
    return {"id": req_id, "title": title, "status": RequirementStatus.FAILED, "message": message, "fix": fix,
            "severity": "critical", "evidence": {}, "since": None}


@dataclass(frozen=True)
class GateResult:
    check: GateCheck
    evaluation: Evaluation | None


def gate_check(
    *,
    user: Any,
    token: ApiToken | None,
    system: AISystem,
    environment: str,
    policy: Policy | None,
    policy_error: str = "",
    version: str = "",
    commit: str = "",
    pipeline_url: str = "",
) -> GateResult:
    """Evaluate and record one gate call. Fail closed: with no loadable policy, or facts that cannot
    be read, or an evaluation that raises, the answer is a block naming the reason."""
    started = time.perf_counter()
    now = timezone.now()
    evaluation = None
    if policy is not None:
        policy_name, policy_version = policy.name, policy.version
        try:
            facts = collect_facts(system)
        except Exception as exc:
            log.exception("gate: facts of %s could not be read", system.slug)
            requirements = [_gate_failure("facts-readable", "System facts can be read",
                                          f"the facts of {system.slug} could not be read: {exc}",
                                          "Retry; if it persists, an administrator must look at the server log.")]
        else:
            try:
                evaluation = evaluate(policy, environment, facts, now)
            except Exception as exc:
                log.exception("gate: evaluation of %s in %s raised", system.slug, environment)
                requirements = [_gate_failure("evaluation-complete", "Evaluation completes",
                                              f"the evaluation could not complete: {exc}",
                                              "Retry; if it persists, run `manage.py policy explain` to see why.")]
            else:
                requirements = [r.as_json() for r in evaluation.requirements]
                if evaluation.unmet:  # since when: only unmet requirements need the stored snapshot
                    stored = (ReadinessVerdict.objects.filter(system=system, environment=environment)
                              .values_list("requirements", flat=True).first())
                    requirements = with_since(requirements, stored or [], now)
        verdict = evaluation.verdict if evaluation is not None else Verdict.BLOCK
    else:
        verdict = Verdict.BLOCK
        requirements = [
            _gate_failure("policy-loaded", "Readiness policy loads",
                          f"the readiness policy could not be loaded: {policy_error}",
                          "Fix the policy file (run `manage.py policy lint`); Clearance blocks every deploy until it loads.")
        ]
        policy_name, policy_version = "unavailable", ""
    check = GateCheck.objects.create(
        system=system,
        environment=environment,
        version=version,
        commit=commit,
        pipeline_url=pipeline_url,
        verdict=verdict,
        policy_name=policy_name,
        policy_version=policy_version,
        requirements=requirements,
        user=user,
        token=token,
        checked_at=now,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return GateResult(check, evaluation)


# --- Reminders ----------------------------------------------------------------------------------------


def reminders_send(*, now: datetime | None = None) -> dict[str, int]:
    """Remind about overdue reviews (once a day) and approvals about to expire (once a week), in the
    app and by email. The (review, reason, period) key makes a second run in the same period send
    nothing; the email goes through the outbox and is retried if the backend fails."""
    now = now or timezone.now()
    warning = timedelta(days=load_review_policy().expiry_warning_days)
    sent = {"overdue": 0, "expiring": 0}
    day = now.date().isoformat()
    iso = now.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    overdue = (
        Review.objects.filter(status=ReviewStatus.OPEN, due_at__lt=now)
        .exclude(reminders__reason=ReviewReminder.Reason.OVERDUE, reminders__period=day)
        .select_related("request", "system", "assignee").order_by("due_at")
    )
    for review in overdue:
        late = (now - review.due_at).days
        recipients = [review.assignee] if review.assignee else list(_reviewers_of(review.kind))
        if _remind_once(review, ReviewReminder.Reason.OVERDUE, day, now, recipients=recipients,
                        subject=f"Overdue: {review}",
                        body=f"This review was due on {review.due_at:%Y-%m-%d} ({late} day{'s' if late != 1 else ''} ago)."):
            sent["overdue"] += 1
    expiring = (
        Review.objects.filter(status=ReviewStatus.APPROVED, expires_at__gt=now, expires_at__lte=now + warning)
        .exclude(reminders__reason=ReviewReminder.Reason.EXPIRING, reminders__period=week)
        .select_related("request", "request__requester", "system", "decided_by").order_by("expires_at")
    )
    for review in expiring:
        recipients = [review.decided_by, getattr(review.request, "requester", None)]
        if review.system_id:
            recipients += [review.system.business_owner, review.system.technical_owner]
        if _remind_once(review, ReviewReminder.Reason.EXPIRING, week, now, recipients=recipients,
                        subject=f"Approval expires {review.expires_at:%Y-%m-%d}: {review}",
                        body="Renew the review before it expires, or the deployment gate will block."):
            sent["expiring"] += 1
    return sent


def _remind_once(review: Review, reason: str, period: str, now: datetime, *, recipients: list[Any], subject: str,
                 body: str) -> bool:
    try:
        with transaction.atomic():
            ReviewReminder.objects.create(review=review, reason=reason, period=period, sent_at=now)
            notify(recipients=[u for u in recipients if u is not None], subject=subject, body=body,
                   url=review.get_absolute_url())
            audit_record(actor=None, action=f"review.reminded_{reason}", obj=review, data={"period": period})
    except IntegrityError:
        # A concurrent sweep reminded first for this period.
        return False
    return True
