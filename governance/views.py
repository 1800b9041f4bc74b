"""The home dashboard, review queues, the system page with its readiness, decision records, the portfolio and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from catalog.choices import ModelCardStatus, RiskTier
from catalog.models import AISystem
from clearance.audit import history_for, verify_chain
from clearance.models import AuditEvent, Notification
from clearance.policyfile import PolicyError
from clearance.roles import ROLE_LABELS, Role, has_role, reads_portfolio, roles_of
from clearance.web import get_visible_or_404, paginate, run_service
from governance import services
from governance.choices import DecisionStatus, ReviewStatus
from governance.forms import DecisionProposeForm, OpenReviewsForm, ReviewDecisionForm
from governance.models import DecisionRecord, GateCheck, ReadinessVerdict, Review
from governance.review_policy import kind_label, kind_role, kinds_for_roles, review_kinds
from governance.selectors import readiness_by_environment, reviews_of_system
from governance.system_page import system_page_context
from intake.models import UseCaseRequest


@login_required
def home(request: HttpRequest) -> HttpResponse:
    mine = roles_of(request.user)
    queues = kinds_for_roles(mine)
    now = timezone.now()
    queue_counts = {}
    if queues:
        rows = (
            Review.objects.filter(kind__in=queues)
            .values("kind")
            .annotate(open=Count("pk", filter=Q(status=ReviewStatus.OPEN)),
                      overdue=Count("pk", filter=Q(status=ReviewStatus.OPEN, due_at__lt=now)))
        )
        queue_counts = {row["kind"]: row for row in rows}
    return render(
        request,
        "home.html",
        {
            "roles": [ROLE_LABELS[Role(r)] for r in sorted(mine) if r in Role._value2member_map_],
            "my_requests": UseCaseRequest.objects.filter(requester=request.user).order_by("-updated_at")[:8],
            "my_systems": AISystem.objects.visible_to(request.user)
            .filter(Q(business_owner=request.user) | Q(technical_owner=request.user) | Q(risk_owner=request.user))[:8],
            "queues": [(kind, queue_counts.get(kind, {"open": 0, "overdue": 0})) for kind in queues],
            "notifications": Notification.objects.filter(recipient=request.user, read_at=None)[:8],
        },
    )


AGE_FILTERS = {"0-2": (0, 3), "3-7": (3, 8), "8-30": (8, 31), "30+": (31, None)}
DUE_FILTERS = ("overdue", "today", "week", "later")
SORTS = {
    "due": ("due_at", "pk"),
    "-due": ("-due_at", "-pk"),
    "oldest": ("opened_at", "pk"),
    "newest": ("-opened_at", "-pk"),
    "tier": ("tier_rank", "due_at", "pk"),
}
QUEUE_VIEWS = ("open", "unassigned", "mine", "decided", "all")


def _queue_filters(request: HttpRequest, qs: Any, now: Any) -> tuple[Any, dict[str, str]]:
    """Apply the tier / age / department / due filters from the query string; unknown values are ignored."""
    chosen = {}
    tier = request.GET.get("tier", "")
    if tier in RiskTier.values:
        qs = qs.filter(Q(request__risk_tier=tier) | Q(request__isnull=True, system__risk_tier=tier))
        chosen["tier"] = tier
    age = request.GET.get("age", "")
    if age in AGE_FILTERS:
        low, high = AGE_FILTERS[age]
        qs = qs.filter(opened_at__lte=now - timedelta(days=low))
        if high is not None:
            qs = qs.filter(opened_at__gt=now - timedelta(days=high))
        chosen["age"] = age
    department = request.GET.get("department", "").strip()
    if department:
        qs = qs.filter(request__department=department)
        chosen["department"] = department
    due = request.GET.get("due", "")
    if due == "overdue":
        qs = qs.filter(status=ReviewStatus.OPEN, due_at__lt=now)
    elif due == "today":
        qs = qs.filter(due_at__gte=now, due_at__lt=now + timedelta(days=1))
    elif due == "week":
        qs = qs.filter(due_at__gte=now, due_at__lt=now + timedelta(days=7))
    elif due == "later":
        qs = qs.filter(due_at__gte=now + timedelta(days=7))
    if due in DUE_FILTERS:
        chosen["due"] = due
    return qs, chosen


@login_required
def queue(request: HttpRequest, kind: str) -> HttpResponse:
    """One review kind's queue: views, filters, sort, counts, age and due from the SLA. The number of
    queries does not grow with the rows (tests assert it)."""
    if kind not in review_kinds():
        raise Http404("no such queue")
    role = kind_role(kind)
    if not ((role is not None and has_role(request.user, role)) or reads_portfolio(request.user)):
        raise PermissionDenied(f"the {kind} queue is for {kind} reviewers")
    now = timezone.now()
    base, chosen = _queue_filters(request, Review.objects.queue_for(request.user, kind), now)
    view = request.GET.get("view", "open")
    if view not in QUEUE_VIEWS:
        view = "open"
    counts = base.aggregate(
        open=Count("pk", filter=Q(status=ReviewStatus.OPEN)),
        unassigned=Count("pk", filter=Q(status=ReviewStatus.OPEN, assignee=None)),
        mine=Count("pk", filter=Q(status=ReviewStatus.OPEN, assignee=request.user)),
        overdue=Count("pk", filter=Q(status=ReviewStatus.OPEN, due_at__lt=now)),
        decided=Count("pk", filter=~Q(status=ReviewStatus.OPEN)),
        all=Count("pk"),
    )
    qs = base.select_related("request", "request__requester", "system", "assignee").annotate(
        tier_rank=Case(
            *[When(Q(request__risk_tier=t) | Q(request__isnull=True, system__risk_tier=t), then=Value(i))
              for i, t in enumerate(["prohibited", "high", "limited", "minimal"])],
            default=Value(9), output_field=IntegerField(),
        )
    )
    if view == "unassigned":
        qs = qs.filter(status=ReviewStatus.OPEN, assignee=None)
    elif view == "mine":
        qs = qs.filter(status=ReviewStatus.OPEN, assignee=request.user)
    elif view == "decided":
        qs = qs.exclude(status=ReviewStatus.OPEN)
    elif view == "open":
        qs = qs.filter(status=ReviewStatus.OPEN)
    sort = request.GET.get("sort", "-decided" if view == "decided" else "due")
    order = ("-decided_at", "-pk") if sort == "-decided" else SORTS.get(sort, SORTS["due"])
    qs = qs.order_by(*order)
    is_lead = has_role(request.user, Role.GOVERNANCE_LEAD, Role.ADMIN)
    reviewers = []
    if is_lead and role is not None:
        reviewers = list(get_user_model().objects.filter(groups__name=role.value, is_active=True)
                         .order_by("username").values_list("pk", "username"))
    departments = list(
        Review.objects.queue_for(request.user, kind).exclude(request__department="")
        .exclude(request__department__isnull=True)
        .values_list("request__department", flat=True).distinct().order_by("request__department")[:200]
    )
    return render(
        request,
        "governance/queue.html",
        {"kind": kind, "kind_label": kind_label(kind), "page": paginate(request, qs), "counts": counts,
         "view": view, "now": now, "soon": now + timedelta(days=2), "chosen": chosen, "sort": sort,
         "tiers": RiskTier.choices, "ages": list(AGE_FILTERS), "dues": DUE_FILTERS, "departments": departments,
         "is_lead": is_lead, "reviewers": reviewers, "can_claim": role is not None and has_role(request.user, role),
         "query": request.GET.urlencode()},
    )


@login_required
@require_POST
def queue_assign(request: HttpRequest, kind: str) -> HttpResponse:
    """The lead assigns one or many open reviews of a queue to a reviewer."""
    if not has_role(request.user, Role.GOVERNANCE_LEAD, Role.ADMIN):
        raise PermissionDenied("only the governance lead assigns reviews")
    if kind not in review_kinds():
        raise Http404("no such queue")
    ids = [int(v) for v in request.POST.getlist("reviews") if v.isdigit()]
    assignee = get_user_model().objects.filter(pk=request.POST.get("assignee") or 0, is_active=True).first() \
        if (request.POST.get("assignee") or "").isdigit() else None
    back = _safe_next(request, reverse("queue", kwargs={"kind": kind}))
    if not ids:
        messages.error(request, "Reviews: select at least one review.")
        return redirect(back)
    if assignee is None:
        messages.error(request, "Assignee: choose a reviewer.")
        return redirect(back)
    done = 0
    for review in Review.objects.filter(pk__in=ids, kind=kind).order_by("pk"):
        if run_service(request, None, lambda r=review: services.review_reassign(actor=request.user, review=r,
                                                                               assignee=assignee),
                       f"{review} assigned to {assignee.get_username()}.") is not None:
            done += 1
    return redirect(back)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _visible_review(request: HttpRequest, pk: int) -> Review:
    return get_visible_or_404(
        Review.objects.visible_to(request.user).select_related(
            "request", "request__requester", "system", "assignee", "decided_by", "opened_by"
        ),
        pk=pk,
    )


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = _visible_review(request, pk)
    can_decide = review.status == ReviewStatus.OPEN and services.reviewer_refusal(request.user, review) is None
    return render(request, "governance/review_detail.html",
                  {**_review_context(request, review), "form": ReviewDecisionForm(), "can_decide": can_decide})


def _review_context(request: HttpRequest, review: Review) -> dict[str, Any]:
    is_lead = has_role(request.user, Role.GOVERNANCE_LEAD, Role.ADMIN)
    role = kind_role(review.kind)
    reviewers = []
    if is_lead and role is not None and review.status == ReviewStatus.OPEN:
        reviewers = list(get_user_model().objects.filter(groups__name=role.value, is_active=True)
                         .exclude(pk=getattr(review.request, "requester_id", None))
                         .order_by("username").values_list("pk", "username"))
    return {"review": review, "now": timezone.now(), "history": history_for(review).order_by("seq"),
            "is_lead": is_lead, "reviewers": reviewers}


@login_required
@require_POST
def review_claim(request: HttpRequest, pk: int) -> HttpResponse:
    review = _visible_review(request, pk)
    run_service(request, None, lambda: services.review_claim(actor=request.user, review=review), "Review claimed.")
    return redirect(_safe_next(request, reverse("review-detail", kwargs={"pk": review.pk})))


@login_required
@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    review = _visible_review(request, pk)
    form = ReviewDecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        done = run_service(
            request, form,
            lambda: services.review_decide(actor=request.user, review=review, decision=data["decision"],
                                           rationale=data["rationale"], conditions=data["conditions"],
                                           expires_at=data["expires_at"]),
            "Decision recorded.",
        )
        if done is not None:
            return redirect("queue", kind=review.kind)
    form_errors = getattr(form, "_errors", None) or {}
    if form_errors:
        for name in form_errors:
            if name in form.fields:
                form.fields[name].widget.attrs.update({"aria-invalid": "true"})
    return render(request, "governance/review_detail.html",
                  {**_review_context(request, review), "form": form, "can_decide": True}, status=400)


@login_required
@require_POST
def reviews_open(request: HttpRequest, pk: int) -> HttpResponse:
    if not has_role(request.user, Role.GOVERNANCE_LEAD, Role.ADMIN):
        raise PermissionDenied("only the governance team opens reviews")
    obj = get_visible_or_404(UseCaseRequest.objects.all(), pk=pk)
    form = OpenReviewsForm(request.POST)
    if form.is_valid():
        run_service(request, None,
                    lambda: services.reviews_open(actor=request.user, request=obj, kinds=form.cleaned_data["kinds"]),
                    "Reviews opened.")
    else:
        for error in form.errors.get("kinds", []):
            messages.error(request, f"Reviews: {error}")
    return redirect("triage-detail", pk=obj.pk)


@login_required
def system_detail(request: HttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(
        AISystem.objects.visible_to(request.user).select_related("business_owner", "technical_owner", "risk_owner"),
        slug=slug,
    )
    policy_error = ""
    policy = None
    evaluations = {}
    try:
        policy, evaluations = readiness_by_environment(system, timezone.now())
    except PolicyError as exc:
        policy_error = exc.message
    editable = system.editable_by(request.user)
    return render(
        request,
        "governance/system_detail.html",
        {
            "system": system,
            "policy": policy,
            "policy_error": policy_error,
            "evaluations": evaluations,
            "editable": editable,
            "reviews": reviews_of_system(system).select_related("decided_by", "assignee").order_by("-opened_at")[:20],
            "evals": system.eval_results.order_by("-observed_at")[:20],
            "gate_checks": GateCheck.objects.filter(system=system).select_related("user").order_by("-checked_at")[:20],
            # Issue 4: documents, registers, exports and the timeline of every change.
            **system_page_context(system, request.user),
            "published_card": system.model_cards.filter(status=ModelCardStatus.PUBLISHED).order_by("-version").first(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def decision_create(request: HttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    if not system.editable_by(request.user):
        raise PermissionDenied("only the system's owners and the governance team record its decisions")
    form = DecisionProposeForm(request.POST or None, system=system,
                               initial={"supersedes": request.GET.get("supersedes")})
    if request.method == "POST" and form.is_valid():
        record = run_service(
            request, form,
            lambda: services.decision_record_propose(actor=request.user, system=system, **form.cleaned_data),
            "Decision record proposed.",
        )
        if record is not None:
            return redirect("decision-detail", pk=record.pk)
    return render(request, "governance/decision_form.html", {"system": system, "form": form})


@login_required
@require_POST
def decision_decide(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_visible_or_404(DecisionRecord.objects.visible_to(request.user).select_related("system"), pk=pk)
    to = request.POST.get("to", "")
    if to not in (DecisionStatus.ACCEPTED, DecisionStatus.REJECTED):
        messages.error(request, "Status: choose accept or reject.")
    else:
        run_service(request, None, lambda: services.decision_record_decide(actor=request.user, record=record, to=to),
                    f"Decision record {to}.")
    return redirect("decision-detail", pk=record.pk)


@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    """Every visible system × environment, from the stored verdicts (one query per page)."""
    systems = AISystem.objects.visible_to(request.user).order_by("name")
    page = paginate(request, systems, per_page=50)
    verdicts = ReadinessVerdict.objects.filter(system__in=[s.pk for s in page.object_list])
    grid: dict[int, dict[str, ReadinessVerdict]] = {}
    environments: list[str] = []
    for verdict in verdicts:
        grid.setdefault(verdict.system_id, {})[verdict.environment] = verdict
        if verdict.environment not in environments:
            environments.append(verdict.environment)
    order = {"production": 0, "staging": 1, "development": 2}
    environments.sort(key=lambda e: (order.get(e, 9), e))
    rows = [(system, [grid.get(system.pk, {}).get(env) for env in environments]) for system in page.object_list]
    return render(request, "governance/portfolio.html", {"page": page, "rows": rows, "environments": environments})


@login_required
def audit_trail(request: HttpRequest) -> HttpResponse:
    if not reads_portfolio(request.user):
        raise PermissionDenied("the audit trail is for the governance team and auditors")
    qs = AuditEvent.objects.select_related("actor").order_by("-seq")
    action = request.GET.get("action", "").strip()
    if action:
        qs = qs.filter(action__startswith=action)
    report = verify_chain() if request.GET.get("verify") else None
    return render(request, "governance/audit.html", {"page": paginate(request, qs, 50), "action": action, "report": report})
