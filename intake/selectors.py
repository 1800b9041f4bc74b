"""Reads of a request that are more than one queryset: its timeline and what it still needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from clearance.audit import history_for
from intake import wizard
from intake.choices import RequestStatus
from intake.models import UseCaseRequest

# Audit actions shown on the requester's timeline, in words.
ACTION_LABELS = {
    "request.draft_created": "Draft started",
    "request.answers_changed": "Answers changed",
    "request.submitted": "Submitted",
    "request.triage": "Triage started",
    "request.in_review": "Reviews started",
    "request.approved": "Approved",
    "request.rejected": "Rejected",
    "request.changes_requested": "Changes requested",
    "request.withdrawn": "Withdrawn",
    "request.tier_confirmed": "Risk tier confirmed",
    "request.tier_overridden": "Risk tier overridden",
    "request.owners_assigned": "Owners assigned",
    "request.system_created": "Catalog system created",
}


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # status | comment | attachment
    title: str
    actor: str
    obj: Any = None
    data: Any = None


def request_timeline(obj: UseCaseRequest) -> list[TimelineItem]:
    """Status changes, comments and attachments, oldest first (three queries)."""
    items = [
        TimelineItem(e.occurred_at, "status", ACTION_LABELS[e.action], e.actor_repr, data=e.data)
        for e in history_for(obj).order_by("seq")
        if e.action in ACTION_LABELS
    ]
    items += [
        TimelineItem(c.created_at, "comment", c.get_kind_display(), c.author.get_full_name() or c.author.get_username(), obj=c)
        for c in obj.comments.select_related("author")
    ]
    items += [
        TimelineItem(a.uploaded_at, "attachment", "Attachment", a.uploaded_by.get_full_name() or a.uploaded_by.get_username(),
                     obj=a)
        for a in obj.attachments.select_related("uploaded_by")
    ]
    return sorted(items, key=lambda i: i.at)


def still_needed(obj: UseCaseRequest, reviews: list[Any]) -> list[str]:
    """What stands between the request and a decision, in plain words."""
    now = timezone.now()
    status = obj.status
    if status == RequestStatus.DRAFT:
        gaps = wizard.questionnaire_gaps(obj)
        if gaps:
            titles = [wizard.STEP_BY_SLUG[s].title for s in gaps]
            return [f"The requester answers the open questions in: {', '.join(titles)}", "Then submits for triage"]
        return ["The requester submits the request for triage"]
    if status == RequestStatus.SUBMITTED:
        return ["The governance team starts triage"]
    if status == RequestStatus.TRIAGE:
        needs = []
        if not obj.risk_tier:
            needs.append("The governance team confirms the risk tier")
        needs.append("The governance team opens the reviews")
        return needs
    if status == RequestStatus.IN_REVIEW:
        needs = []
        for r in reviews:
            if r.status == "open":
                due = "overdue" if r.due_at < now else f"due {r.due_at:%Y-%m-%d}"
                who = r.assignee.get_username() if r.assignee else "not yet claimed"
                needs.append(f"{r.get_kind_display()} review decides ({who}, {due})")
            elif r.status == "changes_requested":
                needs.append(f"The requester answers the {r.get_kind_display().lower()} review's request for changes")
        return needs or ["Every review has decided"]
    if status == RequestStatus.CHANGES_REQUESTED:
        asked = [r for r in reviews if r.status == "changes_requested"]
        needs = [f"Answer the {r.get_kind_display().lower()} review: {r.rationale}" for r in asked]
        return [*needs, "Change the answers if needed and resubmit"]
    return []
