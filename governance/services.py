"""Every governance write: reviews, decision records, readiness snapshots, gate checks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from catalog.services import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.models import ApiToken
from clearance.notifications import notify
from clearance.roles import Role, has_role
from governance.choices import (
    DECISION_TRANSITIONS,
    KIND_ROLE,
    PASSING_STATUSES,
    REVIEW_DECISIONS,
    REVIEW_TRANSITIONS,
    DecisionStatus,
    RequirementStatus,
    ReviewKind,
    ReviewStatus,
    Verdict,
)
from governance.models import DecisionRecord, GateCheck, ReadinessVerdict, Review
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import Policy, load_readiness_policy
from governance.selectors import collect_facts
from intake.choices import RequestStatus
from intake.models import UseCaseRequest
from intake.services import lock_request, request_transition

DEFAULT_APPROVAL_DAYS = 365
MAX_APPROVAL_DAYS = 3 * 365

log = logging.getLogger(__name__)


def review_sla(kind: str) -> timedelta:
    days: dict[str, int] = getattr(settings, "REVIEW_SLA_DAYS", {})
    return timedelta(days=days.get(kind, 5))


def _reviewers_of(kind: str) -> Any:
    return get_user_model().objects.filter(groups__name=KIND_ROLE[kind], is_active=True)


# --- Reviews ----------------------------------------------------------------------------------------


def reviews_open(*, actor: Any, request: UseCaseRequest, kinds: list[str]) -> list[Review]:
    """Open one review per kind (in parallel, each with its SLA) and move the request to review."""
    if not has_role(actor, Role.GOVERNANCE_LEAD, Role.ADMIN):
        raise NotAllowed("only the governance team opens reviews")
    unknown = set(kinds) - set(ReviewKind.values)
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
                due_at=now + review_sla(kind),
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
    if not has_role(actor, KIND_ROLE[review.kind]):
        return f"only a {KIND_ROLE[review.kind].value.replace('-', ' ')} can act on this review"
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
        locked.save()
        audit_record(
            actor=actor,
            action=f"review.{decision}",
            obj=locked,
            data={"rationale": locked.rationale, "conditions": locked.conditions, "expires_at": expires_at},
        )
        if request is not None:
            _settle_request(actor=actor, request=request)
        system = locked.system or (request.system if request else None)
        if system is not None:
            readiness_changed(system=system, reason=f"{locked.kind} review {decision}")
    return locked


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
            review.due_at = timezone.now() + review_sla(review.kind)
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
    return len(reviews)


# --- Decision records --------------------------------------------------------------------------------


def decision_record_propose(
    *, actor: Any, system: AISystem, title: str, context: str, decision: str, options: str = "", consequences: str = ""
) -> DecisionRecord:
    errors = {name: value for name, value in (("title", title), ("context", context), ("decision", decision)) if not value.strip()}
    if errors:
        raise DomainError(f"{next(iter(errors))} is required", field=next(iter(errors)))
    with transaction.atomic():
        record = DecisionRecord.objects.create(
            system=system, title=title.strip(), context=context, decision=decision, options=options,
            consequences=consequences, created_by=actor,
        )
        audit_record(actor=actor, action="decision_record.proposed", obj=record)
    return record


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
        locked.status = to
        locked.decided_at = timezone.now()
        locked.facts_snapshot = {
            "risk_tier": system.risk_tier,
            "model": f"{system.model_name} {system.model_version}".strip(),
            "lifecycle_stage": system.lifecycle_stage,
            "model_card_version": system.model_cards.filter(status="published").order_by("-version")
            .values_list("version", flat=True).first(),
        }
        locked.save(update_fields=["status", "decided_at", "facts_snapshot"])
        locked.deciders.add(actor)
        audit_record(actor=actor, action=f"decision_record.{to}", obj=locked, data=locked.facts_snapshot)
        readiness_changed(system=system, reason=f"decision record {to}")
    return locked


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
                stored = (ReadinessVerdict.objects.filter(system=system, environment=environment)
                          .values_list("requirements", flat=True).first())
                requirements = with_since([r.as_json() for r in evaluation.requirements], stored or [], now)
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
