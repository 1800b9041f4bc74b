"""Approval fingerprints: what an approval was given on, and lapsing it when that
changes materially."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.choices import ModelCardStatus
from catalog.models import ModelCard
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.notifications import notify
from governance.choices import (
    ReviewStatus,
)
from governance.models import Review
from governance.policy.reviews import review_sla
from governance.selectors.reviews import reviewers_of
from intake.choices import RequestStatus
from intake.services import (
    ANSWER_FIELDS,
    lock_request,
    request_transition,
)
from integrations.choices import EventKind
from integrations.events import emit

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
        notify(recipients=[approved_by] if approved_by else reviewers_of(locked.kind),
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
        emit(kind=EventKind.APPROVAL_LAPSED, subject=locked, actor=None,
             summary=f"The {locked.kind} approval of {request.reference if request is not None else system} "
                     f"lapsed after a material change ({changed}); the review is open again.",
             payload={"review_kind": locked.kind, "request": request.reference if request is not None else None,
                      "system": system.slug if system is not None else None,
                      "approved_by": getattr(approved_by, "username", None),
                      "changed": [row["label"] for row in diff]})
    return True
