"""Every write to use-case requests: checked against the state table, locked, audited."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.choices import DataCategory, RiskTier
from catalog.models import AISystem
from catalog.permissions import owner_problems
from catalog.services.systems import system_create, system_set_owners, system_set_tier
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.notifications import notify
from clearance.outbox import outbox_enqueue
from clearance.people import name_of
from clearance.roles import Role
from intake import completeness
from intake.choices import (
    EDITABLE,
    TRANSITIONS,
    Alternative,
    AnnexIIIArea,
    LawfulBasis,
    ProhibitedPractice,
    RequestStatus,
    TimelineKind,
)
from intake.models import Attachment, TimelineEntry, UseCaseRequest
from intake.permissions import can_triage, can_view_request, is_requester, visible_requests
from intake.similarity import similar_for
from intake.tiering import questionnaire_facts, suggest_tier
from integrations.choices import EventKind
from integrations.events import emit

ANSWER_FIELDS = (
    "title",
    "problem",
    "business_outcome",
    "why_ai",
    "alternatives_considered",
    "users_affected",
    "customer_facing",
    "human_in_the_loop",
    "fallback",
    "data_categories",
    "annex_iii_area",
    "prohibited_practices",
    "interacts_with_people",
    "generates_synthetic_content",
    "vendor_model",
    "expected_volume",
    "department",
    "kpi",
    "kpi_baseline",
    "kpi_target",
    "deterministic_parts",
    "data_sources",
    "privacy_lawful_basis",
    "privacy_data_subjects",
    "privacy_retention",
    "touches_annex_iii",
    "annex_iii_details",
    "latency_target",
    "monthly_budget",
    "business_owner_candidate",
    "technical_owner_candidate",
)
REQUIRED_TO_SUBMIT = ("title", "problem", "business_outcome", "why_ai")

_LIST_CHOICES = {
    "alternatives_considered": set(Alternative.values),
    "data_categories": set(DataCategory.values),
    "prohibited_practices": set(ProhibitedPractice.values),
}


def _validate_answers(answers: dict[str, Any]) -> None:
    unknown = set(answers) - set(ANSWER_FIELDS)
    if unknown:
        raise DomainError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    errors: dict[str, list[str]] = {}
    for name, allowed in _LIST_CHOICES.items():
        if name in answers:
            value = answers[name]
            if not isinstance(value, list) or not set(value) <= allowed:
                errors[name] = [f"choose from: {', '.join(sorted(allowed))}"]
    if "annex_iii_area" in answers and answers["annex_iii_area"] not in AnnexIIIArea.values:
        errors["annex_iii_area"] = ["not a known area"]
    if answers.get("privacy_lawful_basis") and answers["privacy_lawful_basis"] not in LawfulBasis.values:
        errors["privacy_lawful_basis"] = ["not a known lawful basis"]
    if answers.get("monthly_budget") is not None and answers["monthly_budget"] < 0:
        errors["monthly_budget"] = ["a budget cannot be negative"]
    if "title" in answers and not str(answers["title"]).strip():
        errors["title"] = ["a request needs a title"]
    if errors:
        raise ValidationError(errors)
    if "data_categories" in answers:
        contradictions = completeness.contradictions(answers)
        if contradictions:
            raise completeness.as_error(contradictions)


def _transition(*, actor: User | None, request: UseCaseRequest, to: str, data: dict[str, Any] | None = None) -> UseCaseRequest:
    """Move a locked request along the state table and audit it (caller holds the transaction)."""
    if to not in TRANSITIONS[request.status]:
        raise InvalidTransition(
            f"a request that is {request.get_status_display().lower()} cannot become "
            f"{RequestStatus(to).label.lower()}"
        )
    before = request.status
    request.status = to
    fields = ["status", "updated_at"]
    if to == RequestStatus.SUBMITTED:
        request.submitted_at = timezone.now()
        fields.append("submitted_at")
    if to in (RequestStatus.APPROVED, RequestStatus.REJECTED):
        request.decided_at = timezone.now()
        fields.append("decided_at")
    request.save(update_fields=fields)
    audit_record(actor=actor, action=f"request.{to}", obj=request, data={"from": before, "to": to, **(data or {})})
    return request


def lock_request(request: UseCaseRequest | int) -> UseCaseRequest:
    pk = request if isinstance(request, int) else request.pk
    return UseCaseRequest.objects.select_for_update().get(pk=pk)


def request_transition(*, actor: User | None, request: UseCaseRequest, to: str, data: dict[str, Any] | None = None) -> UseCaseRequest:
    """For other apps' services (governance moves a request when its reviews decide)."""
    with transaction.atomic():
        return _transition(actor=actor, request=lock_request(request), to=to, data=data)


def request_create_draft(*, requester: User, **answers: Any) -> UseCaseRequest:
    _validate_answers(answers)
    with transaction.atomic():
        request = UseCaseRequest(requester=requester, **answers)
        request.full_clean(exclude=[f for f in REQUIRED_TO_SUBMIT if f != "title"])
        request.save()
        audit_record(actor=requester, action="request.draft_created", obj=request)
    return request


def request_update_answers(*, actor: User, request: UseCaseRequest, **answers: Any) -> UseCaseRequest:
    _validate_answers(answers)
    with transaction.atomic():
        locked = lock_request(request)
        if not is_requester(actor, locked):
            raise NotAllowed("only the requester can change the answers")
        if locked.status not in EDITABLE:
            raise InvalidTransition(f"a request that is {locked.get_status_display().lower()} cannot be edited")
        changed = sorted(name for name, value in answers.items() if getattr(locked, name) != value)
        for name, value in answers.items():
            setattr(locked, name, value)
        locked.full_clean(exclude=[f for f in REQUIRED_TO_SUBMIT if f != "title"])
        locked.save()
        if changed:
            audit_record(actor=actor, action="request.answers_changed", obj=locked, data={"fields": changed})
    return locked


def request_save_step(
    *, actor: User, request: UseCaseRequest | None, step: str, answers: dict[str, Any], completed: bool
) -> UseCaseRequest:
    """Save one step of the guided form: the answers, where the requester is, and whether the step
    validated. The first step creates the draft."""
    with transaction.atomic():
        if request is None:
            saved = request_create_draft(requester=actor, **answers)
        else:
            saved = request_update_answers(actor=actor, request=request, **answers)
        done = [s for s in saved.completed_steps if s != step] + ([step] if completed else [])
        UseCaseRequest.objects.filter(pk=saved.pk).update(wizard_step=step, completed_steps=done)
        saved.wizard_step, saved.completed_steps = step, done
    return saved


def submission_problems(request: UseCaseRequest) -> dict[str, list[str]]:
    """What stops this request from being submitted, by field (empty when it can be): the one rule in
    ``intake.completeness``, which the forms ask too."""
    return completeness.submission_problems({name: getattr(request, name) for name in ANSWER_FIELDS})


def request_submit(*, actor: User, request: UseCaseRequest) -> UseCaseRequest:
    with transaction.atomic():
        locked = lock_request(request)
        if not is_requester(actor, locked):
            raise NotAllowed("only the requester can submit a request")
        missing = submission_problems(locked)
        if missing:
            raise completeness.as_error(missing)
        resubmission = locked.status == RequestStatus.CHANGES_REQUESTED
        suggestion = suggest_tier(questionnaire_facts(locked))
        locked.suggested_tier = suggestion.tier
        locked.tier_reasons = suggestion.reasons
        locked.similar = similar_for(locked)
        locked.save(update_fields=["suggested_tier", "tier_reasons", "similar"])
        _transition(
            actor=actor,
            request=locked,
            to=RequestStatus.SUBMITTED,
            data={"suggested_tier": suggestion.tier, "tiering_policy": suggestion.policy_version[:12]},
        )
        if resubmission:
            # Governance reopens the reviews that asked for changes and tells their reviewers.
            outbox_enqueue(task_name="governance.reopen_reviews_after_resubmission", request_id=locked.pk)
        leads = get_user_model().objects.filter(groups__name=Role.GOVERNANCE_LEAD, is_active=True)
        notify(
            recipients=leads,
            subject=f"{'Resubmitted' if resubmission else 'New'} AI use-case request: {locked.title}",
            body=f"{name_of(locked.requester)} submitted {locked.reference}. Suggested tier: {suggestion.tier}.",
            url=locked.get_absolute_url(),
        )
        emit(kind=EventKind.REQUEST_SUBMITTED, subject=locked, actor=actor,
             summary=f"{name_of(locked.requester)} {'resubmitted' if resubmission else 'submitted'} "
                     f"{locked.reference}: {locked.title}",
             payload={"reference": locked.reference, "title": locked.title, "suggested_tier": suggestion.tier,
                      "resubmission": resubmission})
    return locked


def request_withdraw(*, actor: User, request: UseCaseRequest) -> UseCaseRequest:
    with transaction.atomic():
        locked = lock_request(request)
        if not is_requester(actor, locked):
            raise NotAllowed("only the requester can withdraw a request")
        return _transition(actor=actor, request=locked, to=RequestStatus.WITHDRAWN)


def _require_lead(actor: User) -> None:
    if not can_triage(actor):
        raise NotAllowed("only the governance team can triage requests")


def request_start_triage(*, actor: User, request: UseCaseRequest) -> UseCaseRequest:
    _require_lead(actor)
    with transaction.atomic():
        return _transition(actor=actor, request=lock_request(request), to=RequestStatus.TRIAGE)


def request_set_tier(*, actor: User, request: UseCaseRequest, tier: str, justification: str = "") -> UseCaseRequest:
    _require_lead(actor)
    if tier not in RiskTier.values:
        raise DomainError(f"unknown risk tier {tier!r}", field="risk_tier")
    with transaction.atomic():
        locked = lock_request(request)
        if locked.status not in (RequestStatus.TRIAGE, RequestStatus.IN_REVIEW):
            raise InvalidTransition("the tier is set during triage or review")
        if tier != locked.suggested_tier and not justification.strip():
            raise DomainError(
                f"overriding the suggested tier ({locked.suggested_tier}) needs a justification",
                field="tier_justification",
            )
        before = locked.risk_tier
        locked.risk_tier = tier
        locked.tier_justification = justification.strip()
        locked.save(update_fields=["risk_tier", "tier_justification", "updated_at"])
        audit_record(
            actor=actor,
            action="request.tier_confirmed" if tier == locked.suggested_tier else "request.tier_overridden",
            obj=locked,
            data={"from": before, "to": tier, "suggested": locked.suggested_tier, "justification": justification},
        )
        if locked.system is not None:
            system_set_tier(actor=actor, system=locked.system, tier=tier, reason=f"tier set on {locked.reference}")
    return locked


def request_triage_decide(*, actor: User, request: UseCaseRequest, to: str, reason: str) -> UseCaseRequest:
    """The governance lead rejects a request at triage or sends it back for changes, with a reason."""
    _require_lead(actor)
    if to not in (RequestStatus.REJECTED, RequestStatus.CHANGES_REQUESTED):
        raise DomainError("at triage a request is rejected or sent back for changes", field="to")
    if not reason.strip():
        raise DomainError("tell the requester why", field="reason")
    with transaction.atomic():
        locked = lock_request(request)
        if locked.status != RequestStatus.TRIAGE:
            raise InvalidTransition("only a request in triage can be decided at triage")
        _transition(actor=actor, request=locked, to=to, data={"reason": reason.strip()})
        notify(
            recipients=[locked.requester],
            subject=f"{locked.reference} {RequestStatus(to).label.lower()} at triage",
            body=reason.strip(),
            url=locked.get_absolute_url(),
        )
    return locked


def request_assign_owners(
    *, actor: User, request: UseCaseRequest, business: User | None, technical: User | None, risk: User | None
) -> UseCaseRequest:
    _require_lead(actor)
    problems = owner_problems(business=business, technical=technical, risk=risk)
    if problems:
        raise completeness.as_error(problems)
    with transaction.atomic():
        locked = lock_request(request)
        if locked.status in (RequestStatus.DRAFT, RequestStatus.WITHDRAWN, RequestStatus.REJECTED):
            raise InvalidTransition(f"owners cannot be assigned to a {locked.get_status_display().lower()} request")
        locked.business_owner, locked.technical_owner, locked.risk_owner = business, technical, risk
        locked.save(update_fields=["business_owner", "technical_owner", "risk_owner", "updated_at"])
        audit_record(
            actor=actor,
            action="request.owners_assigned",
            obj=locked,
            data={
                "business": getattr(business, "username", None),
                "technical": getattr(technical, "username", None),
                "risk": getattr(risk, "username", None),
            },
        )
        if locked.system is not None:
            system_set_owners(
                actor=actor, system=locked.system, business=business, technical=technical, risk=risk
            )
    return locked


def request_create_system(*, actor: User, request: UseCaseRequest, slug: str, name: str = "") -> AISystem:
    """Turn a triaged request into a catalog system that inherits its tier, owners and data."""
    _require_lead(actor)
    with transaction.atomic():
        locked = lock_request(request)
        if locked.system is not None:
            raise InvalidTransition(f"{locked.reference} already has a system ({locked.system.slug})")
        if locked.status not in (RequestStatus.TRIAGE, RequestStatus.IN_REVIEW, RequestStatus.APPROVED):
            raise InvalidTransition("a system is created from a request in triage, in review or approved")
        if not locked.risk_tier:
            raise DomainError("confirm the risk tier before creating the system", field="risk_tier")
        if locked.risk_tier == RiskTier.PROHIBITED:
            raise DomainError("a prohibited use case cannot become a system", field="risk_tier")
        system = system_create(
            actor=actor,
            name=name or locked.title,
            slug=slug,
            purpose=locked.problem,
            risk_tier=locked.risk_tier,
            business_owner=locked.business_owner,
            technical_owner=locked.technical_owner,
            risk_owner=locked.risk_owner,
            requested_by=locked.requester,
            vendor=locked.vendor_model,
            data_categories=locked.data_categories,
        )
        locked.system = system
        locked.save(update_fields=["system", "updated_at"])
        audit_record(actor=actor, action="request.system_created", obj=locked, data={"system": system.slug})
    return system


# --- Timeline: comments and attachments ------------------------------------------------------------------

COMMENT_MAX_CHARS = 10_000


def request_comment(*, actor: User, request: UseCaseRequest, body: str, kind: str = TimelineKind.COMMENT) -> TimelineEntry:
    """Add a comment (Markdown source; rendered sanitized). A reviewer's question notifies the
    requester; the requester's words notify the reviewers working on the request."""
    body = (body or "").strip()
    if not body:
        raise DomainError("write something first", field="body")
    if len(body) > COMMENT_MAX_CHARS:
        raise DomainError(f"keep it under {COMMENT_MAX_CHARS:,} characters (attach longer documents)", field="body")
    if kind not in TimelineKind.values:
        raise DomainError("unknown kind of comment", field="kind")
    with transaction.atomic():
        locked = lock_request(request)
        if not can_view_request(actor, locked):
            raise NotAllowed("you cannot see this request")
        by_requester = is_requester(actor, locked)
        if kind == TimelineKind.QUESTION and by_requester:
            kind = TimelineKind.COMMENT
        if kind == TimelineKind.ANSWER and not by_requester:
            kind = TimelineKind.COMMENT
        entry = TimelineEntry.objects.create(request=locked, author=actor, kind=kind, body=body, created_at=timezone.now())
        audit_record(actor=actor, action="request.commented", obj=locked, data={"entry": entry.pk, "kind": kind})
        if by_requester:
            recipients = _reviewers_working_on(locked)
        else:
            recipients = [locked.requester]
        notify(
            recipients=[u for u in recipients if u.pk != actor.pk],
            subject=f"{'Question' if kind == TimelineKind.QUESTION else 'New comment'} on {locked.reference}: {locked.title}",
            body=body[:500],
            url=locked.get_absolute_url(),
        )
    return entry


def _reviewers_working_on(request: UseCaseRequest) -> list[Any]:
    """The people who claimed or decided a review of this request (intake cannot import governance)."""
    User = get_user_model()
    reviews = request.reviews.all()
    ids = {pk for row in reviews.values_list("assignee_id", "decided_by_id") for pk in row if pk}
    return list(User.objects.filter(pk__in=ids, is_active=True))


def _sniff_ok(extension: str, head: bytes) -> bool:
    """The first bytes agree with the extension (a renamed executable is not a PDF)."""
    signatures = {
        ".pdf": (b"%PDF-",),
        ".png": (b"\x89PNG\r\n\x1a\n",),
        ".jpg": (b"\xff\xd8\xff",),
        ".jpeg": (b"\xff\xd8\xff",),
        ".docx": (b"PK\x03\x04",),
        ".xlsx": (b"PK\x03\x04",),
    }
    if extension in signatures:
        return head.startswith(signatures[extension])
    # Text formats: must decode as UTF-8 and hold no NUL bytes.
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed chunk is still text.
        return exc.start >= len(head) - 3
    return True


def request_attach(*, actor: User, request: UseCaseRequest, upload: Any) -> Attachment:
    """Store an uploaded file under a generated name outside the web root. An oversized or
    disallowed file is refused before anything is written."""
    name = os.path.basename(str(getattr(upload, "name", "") or "")).strip()
    extension = os.path.splitext(name)[1].lower()
    allowed: dict[str, str] = settings.ATTACHMENT_TYPES
    if not name:
        raise DomainError("choose a file", field="file")
    if extension not in allowed:
        raise DomainError(
            f"{extension or 'files without an extension'} cannot be attached; allowed: {', '.join(sorted(allowed))}",
            field="file",
        )
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size > limit:
        raise DomainError(f"the file is {upload.size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB",
                          field="file")
    upload.seek(0)
    if not _sniff_ok(extension, upload.read(2048)):
        raise DomainError(f"the content of the file is not {extension[1:].upper()}", field="file")
    if not visible_requests(actor, UseCaseRequest.objects.filter(pk=request.pk)).exists():
        raise NotAllowed("you cannot see this request")
    directory = Path(settings.ATTACHMENT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stored = secrets.token_hex(20)
    path = directory / stored
    digest = hashlib.sha256()
    size = 0
    upload.seek(0)
    try:
        with open(path, "xb") as out:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:  # the declared size lied
                    raise DomainError(f"the file is larger than {limit / 1_048_576:.0f} MB", field="file")
                digest.update(chunk)
                out.write(chunk)
        with transaction.atomic():
            locked = lock_request(request)
            if locked.status == RequestStatus.WITHDRAWN:
                raise InvalidTransition("a withdrawn request takes no attachments")
            attachment = Attachment.objects.create(
                request=locked, uploaded_by=actor, original_name=name[:255], stored_name=stored,
                content_type=allowed[extension], size=size, sha256=digest.hexdigest(), uploaded_at=timezone.now(),
            )
            audit_record(actor=actor, action="request.attached", obj=locked,
                         data={"attachment": attachment.pk, "name": attachment.original_name, "size": size,
                               "sha256": attachment.sha256})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return attachment


def attachment_path(attachment: Attachment) -> Path:
    return Path(settings.ATTACHMENT_DIR) / attachment.stored_name
