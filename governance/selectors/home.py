"""What the home page tells each person: the part of the portfolio that waits for them now.

Each function answers one role's section in a fixed number of queries whatever the number of
requests, reviews or systems (lists are cut to ``SHOWN`` rows and say how many there are in all).
The gate's stored verdicts are read, never re-evaluated: ``governance.selectors.gate.readiness_of_systems``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Case, Count, IntegerField, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse

from catalog.choices import LifecycleStage
from catalog.models import AISystem
from catalog.permissions import can_edit_system
from governance.choices import ReviewStatus, Verdict
from governance.models import GateCheck, ReadinessVerdict, Review
from governance.permissions import queue_kinds
from governance.policy.reviews import kind_label
from governance.selectors.gate import EnvironmentReadiness, readiness_of_systems
from intake.choices import RequestStatus, TimelineKind
from intake.models import TimelineEntry, UseCaseRequest

# Rows a home list shows; each list says how many there are and links to all of them.
SHOWN = 6
DUE_SOON = timedelta(days=7)
WAITING = (RequestStatus.SUBMITTED, RequestStatus.TRIAGE, RequestStatus.IN_REVIEW)


@dataclass(frozen=True)
class NextStep:
    text: str
    url: str = ""
    urgent: bool = False  # the person must act (not just wait)


def next_step(req: UseCaseRequest) -> NextStep:
    """What happens next to one of the requester's requests, and who has to act. Needs the
    ``open_reviews``, ``last_question`` and ``last_answer`` annotations of ``requester_home``."""
    status = req.status
    if status == RequestStatus.DRAFT:
        return NextStep("Finish the answers and submit", reverse("request-edit", args=[req.pk]), urgent=True)
    if status == RequestStatus.CHANGES_REQUESTED:
        return NextStep("Change the answers the reviewers asked about, then submit again",
                        reverse("request-edit", args=[req.pk]), urgent=True)
    question: datetime | None = getattr(req, "last_question", None)
    answer: datetime | None = getattr(req, "last_answer", None)
    if question is not None and (answer is None or answer < question):
        return NextStep("Answer the reviewer's question", reverse("request-detail", args=[req.pk]) + "#timeline",
                        urgent=True)
    if status == RequestStatus.SUBMITTED:
        return NextStep("Waiting for the governance team to triage it")
    if status == RequestStatus.TRIAGE:
        return NextStep("Being triaged: tier, owners and reviews are being set")
    if status == RequestStatus.IN_REVIEW:
        n = int(getattr(req, "open_reviews", 0) or 0)
        return NextStep(f"Waiting for {n} review{'' if n == 1 else 's'} to decide" if n else "Reviews decided; "
                        "waiting for the decision to be recorded")
    if status == RequestStatus.APPROVED:
        if req.system_id is not None:
            return NextStep("Approved: keep the system's documents and evidence current",
                            reverse("system-detail", args=[req.system.slug]) if req.system else "")
        return NextStep("Approved: waiting for its catalog system")
    return NextStep("Nothing more: this request is closed")


@dataclass(frozen=True)
class RequestRow:
    request: UseCaseRequest
    next_step: NextStep


def requester_home(user: User) -> dict[str, Any]:
    """The user's own requests, those that need them first, each with its next step (two queries);
    ``to_change`` counts the drafts and the requests sent back for changes."""
    mine = UseCaseRequest.objects.filter(requester=user)
    counts = mine.aggregate(all=Count("pk"), yours=Count("pk", filter=Q(
        status__in=[RequestStatus.DRAFT, RequestStatus.CHANGES_REQUESTED])))
    count = counts["all"] or 0
    if not count:
        return {"count": 0, "rows": [], "to_change": 0}
    questions = TimelineEntry.objects.filter(request=OuterRef("pk"))
    found = list(
        mine.select_related("system")
        .annotate(
            open_reviews=Coalesce(Subquery(
                Review.objects.filter(request=OuterRef("pk"), status=ReviewStatus.OPEN).values("request")
                .annotate(n=Count("pk")).values("n")[:1], output_field=IntegerField()), Value(0)),
            last_question=Subquery(questions.filter(kind=TimelineKind.QUESTION).values("request")
                                   .annotate(at=Max("created_at")).values("at")[:1]),
            last_answer=Subquery(questions.filter(kind=TimelineKind.ANSWER).values("request")
                                 .annotate(at=Max("created_at")).values("at")[:1]),
            rank=Case(When(status__in=[RequestStatus.DRAFT, RequestStatus.CHANGES_REQUESTED], then=Value(0)),
                      When(status__in=WAITING, then=Value(1)), default=Value(2), output_field=IntegerField()),
        )
        .order_by("rank", "-updated_at", "-pk")[:SHOWN]
    )
    rows = [RequestRow(req, next_step(req)) for req in found]
    return {"count": count, "rows": rows, "to_change": counts["yours"] or 0}


@dataclass
class QueueSummary:
    kind: str
    label: str
    open: int = 0
    unassigned: int = 0
    mine: int = 0
    overdue: int = 0
    due_soon: int = 0


def reviewer_home(user: User, now: datetime) -> dict[str, Any]:
    """Per queue the user works: open, unclaimed, theirs, overdue and due within a week; then the
    reviews waiting on them (theirs or unclaimed), soonest due first (two queries)."""
    kinds = queue_kinds(user)
    if not kinds:
        return {"queues": [], "rows": [], "count": 0}
    open_q = Q(status=ReviewStatus.OPEN)
    counts = {
        row["kind"]: row
        for row in Review.objects.filter(kind__in=kinds, status=ReviewStatus.OPEN).values("kind").annotate(
            open=Count("pk", filter=open_q),
            unassigned=Count("pk", filter=Q(assignee=None)),
            mine=Count("pk", filter=Q(assignee=user)),
            overdue=Count("pk", filter=Q(due_at__lt=now)),
            due_soon=Count("pk", filter=Q(due_at__gte=now, due_at__lt=now + DUE_SOON)),
        )
    }
    queues = []
    for kind in kinds:
        row: Any = counts.get(kind, {})
        queues.append(QueueSummary(kind, kind_label(kind), row.get("open", 0), row.get("unassigned", 0),
                                   row.get("mine", 0), row.get("overdue", 0), row.get("due_soon", 0)))
    waiting = Review.objects.filter(Q(assignee=user) | Q(assignee=None), kind__in=kinds, status=ReviewStatus.OPEN)
    rows = [(review, review.due_at < now)
            for review in waiting.select_related("request", "system", "assignee").order_by("due_at", "pk")[:SHOWN]]
    return {"queues": queues, "rows": rows, "count": sum(q.mine + q.unassigned for q in queues)}


def lead_home(now: datetime) -> dict[str, Any]:
    """Triage counts, overdue reviews by kind and the requests waiting longest for a decision
    (three queries)."""
    states = dict(UseCaseRequest.objects.filter(status__in=WAITING).values_list("status").annotate(n=Count("pk")))
    overdue = [
        {"kind": kind, "label": kind_label(kind), "count": n}
        for kind, n in Review.objects.filter(status=ReviewStatus.OPEN, due_at__lt=now)
        .values_list("kind").annotate(n=Count("pk")).order_by("-n", "kind")
    ]
    longest = list(UseCaseRequest.objects.filter(status__in=WAITING, submitted_at__isnull=False)
                   .select_related("requester").order_by("submitted_at", "pk")[:SHOWN])
    return {
        "new": states.get(RequestStatus.SUBMITTED, 0),
        "in_triage": states.get(RequestStatus.TRIAGE, 0),
        "in_review": states.get(RequestStatus.IN_REVIEW, 0),
        "waiting": sum(states.values()),
        "overdue": overdue,
        "overdue_total": sum(o["count"] for o in overdue),
        "longest": longest,
    }


@dataclass
class OwnedSystem:
    system: AISystem
    environments: list[EnvironmentReadiness] = field(default_factory=list)
    fix_url: str = ""

    @property
    def blocked(self) -> list[EnvironmentReadiness]:
        return [e for e in self.environments if e.verdict == Verdict.BLOCK]

    @property
    def top(self) -> tuple[EnvironmentReadiness, dict[str, Any]] | None:
        """The first blocked environment's most severe unmet requirement (production comes first)."""
        for env in self.blocked:
            if env.top_reason is not None:
                return env, env.top_reason
        return None


def owned_systems(user: User) -> Any:
    return AISystem.objects.visible_to(user).filter(
        Q(business_owner=user) | Q(technical_owner=user) | Q(risk_owner=user))


def owner_home(user: User, now: datetime) -> dict[str, Any]:
    """The systems the user owns, blocked live ones first, each with pass or block per environment from the
    stored verdicts and the top blocking reason with where it is fixed (five queries)."""
    from governance.policy.checks import FIX_VIEWS

    mine = owned_systems(user)
    count = mine.count()
    if not count:
        return {"count": 0, "rows": [], "blocked": 0, "policy_error": ""}
    blocked_count = mine.filter(verdicts__verdict=Verdict.BLOCK).distinct().count()
    systems = list(
        mine.select_related("business_owner", "technical_owner", "risk_owner")
        .annotate(blocks=Count("verdicts", filter=Q(verdicts__verdict=Verdict.BLOCK)),
                  # A retired system's blocks need nobody: it comes after the live ones.
                  retired=Case(When(lifecycle_stage=LifecycleStage.RETIRED, then=Value(1)), default=Value(0),
                               output_field=IntegerField()))
        .order_by("retired", "-blocks", "name")[:SHOWN]
    )
    readiness, policy_error = readiness_of_systems(systems, now)
    rows = []
    for system in systems:
        row = OwnedSystem(system, readiness.get(system.pk, []))
        top = row.top
        if top is not None:
            view = FIX_VIEWS.get((top[1].get("trace") or {}).get("check", ""))
            name, fragment = view if view else ("system-detail", "readiness")
            if name != "system-detail" and not can_edit_system(user, system):
                name, fragment = "system-detail", "readiness"
            row.fix_url = reverse(name, kwargs={"slug": system.slug}) + (f"#{fragment}" if fragment else "")
        rows.append(row)
    return {"count": count, "rows": rows, "blocked": blocked_count, "policy_error": policy_error}


def portfolio_summary(now: datetime) -> dict[str, Any]:
    """The whole portfolio at a glance for its readers (four queries): systems by stage, production
    verdicts, requests waiting and decided, open and overdue reviews, and the last 30 days of gate calls."""
    stages = dict(AISystem.objects.values_list("lifecycle_stage").annotate(n=Count("pk")))
    production = dict(ReadinessVerdict.objects.filter(environment="production").values_list("verdict")
                      .annotate(n=Count("pk")))
    reviews = Review.objects.aggregate(open=Count("pk", filter=Q(status=ReviewStatus.OPEN)),
                                       overdue=Count("pk", filter=Q(status=ReviewStatus.OPEN, due_at__lt=now)))
    gate = GateCheck.objects.filter(environment="production", checked_at__gte=now - timedelta(days=30)).aggregate(
        total=Count("pk"), passed=Count("pk", filter=Q(verdict=Verdict.PASS)))
    return {
        "systems": sum(stages.values()),
        "stages": [(label, stages.get(value, 0), value) for value, label in LifecycleStage.choices],
        "passing": production.get(Verdict.PASS, 0),
        "blocked": production.get(Verdict.BLOCK, 0),
        "open_reviews": reviews["open"] or 0,
        "overdue_reviews": reviews["overdue"] or 0,
        "gate_total": gate["total"] or 0,
        "gate_passed": gate["passed"] or 0,
    }
