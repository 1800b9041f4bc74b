"""Review queues, the review page, claiming, deciding and opening reviews."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from catalog.choices import RiskTier
from clearance.audit import history_for
from clearance.people import name_of
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service
from governance.choices import ReviewStatus
from governance.forms import OpenReviewsForm, ReviewDecisionForm
from governance.models import Review
from governance.permissions import (
    can_assign_reviews,
    can_decide_review,
    can_open_reviews,
    can_view_queue,
    can_work_queue,
)
from governance.policy.reviews import kind_label, kind_role, review_kinds
from governance.services.reviews import review_claim as review_claim_service
from governance.services.reviews import review_decide as review_decide_service
from governance.services.reviews import review_reassign
from governance.services.reviews import reviews_open as reviews_open_service
from intake.models import UseCaseRequest

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


def _queue_filters(request: AuthenticatedHttpRequest, qs: Any, now: Any) -> tuple[Any, dict[str, str]]:
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
def queue(request: AuthenticatedHttpRequest, kind: str) -> HttpResponse:
    """One review kind's queue: views, filters, sort, counts, age and due from the SLA. The number of
    queries does not grow with the rows (tests assert it)."""
    if kind not in review_kinds():
        raise Http404("no such queue")
    if not can_view_queue(request.user, kind):
        raise PermissionDenied(f"the {kind} queue is for {kind} reviewers")
    role = kind_role(kind)
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
    is_lead = can_assign_reviews(request.user)
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
         "is_lead": is_lead, "reviewers": reviewers, "can_claim": can_work_queue(request.user, kind),
         "query": request.GET.urlencode()},
    )


@login_required
@require_POST
def queue_assign(request: AuthenticatedHttpRequest, kind: str) -> HttpResponse:
    """The lead assigns one or many open reviews of a queue to a reviewer."""
    if not can_assign_reviews(request.user):
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
        if run_service(request, None, partial(review_reassign, actor=request.user, review=review, assignee=assignee),
                       f"{review} assigned to {name_of(assignee)}.") is not None:
            done += 1
    return redirect(back)


def _safe_next(request: AuthenticatedHttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _visible_review(request: AuthenticatedHttpRequest, pk: int) -> Review:
    return get_visible_or_404(
        Review.objects.visible_to(request.user).select_related(
            "request", "request__requester", "system", "assignee", "decided_by", "opened_by"
        ),
        pk=pk,
    )


@login_required
def review_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    review = _visible_review(request, pk)
    can_decide = review.status == ReviewStatus.OPEN and can_decide_review(request.user, review)
    return render(request, "governance/review_detail.html",
                  {**_review_context(request, review), "form": ReviewDecisionForm(), "can_decide": can_decide})


def _review_context(request: AuthenticatedHttpRequest, review: Review) -> dict[str, Any]:
    is_lead = can_assign_reviews(request.user)
    role = kind_role(review.kind)
    reviewers = []
    if is_lead and role is not None and review.status == ReviewStatus.OPEN:
        candidates = get_user_model().objects.filter(groups__name=role.value, is_active=True)
        if review.request is not None:  # four eyes: the requester is not offered
            candidates = candidates.exclude(pk=review.request.requester_id)
        reviewers = list(candidates.order_by("username").values_list("pk", "username"))
    return {"review": review, "now": timezone.now(), "history": history_for(review).order_by("seq"),
            "is_lead": is_lead, "reviewers": reviewers}


@login_required
@require_POST
def review_claim(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    review = _visible_review(request, pk)
    run_service(request, None, lambda: review_claim_service(actor=request.user, review=review), "Review claimed.")
    return redirect(_safe_next(request, reverse("review-detail", kwargs={"pk": review.pk})))


@login_required
@require_POST
def review_decide(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    review = _visible_review(request, pk)
    form = ReviewDecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        done = run_service(
            request, form,
            lambda: review_decide_service(actor=request.user, review=review, decision=data["decision"],
                                           rationale=data["rationale"], conditions=data["conditions"],
                                           expires_at=data["expires_at"]),
            "Decision recorded.",
        )
        if done is not None:
            return redirect("queue", kind=review.kind)
        review.refresh_from_db()
        if review.status != ReviewStatus.OPEN:
            # Someone decided first: say who and what, and keep the loser's text out of the record.
            return render(request, "governance/review_detail.html",
                          {**_review_context(request, review), "conflict": True}, status=409)
    form_errors = getattr(form, "_errors", None) or {}
    if form_errors:
        for name in form_errors:
            if name in form.fields:
                form.fields[name].widget.attrs.update({"aria-invalid": "true"})
    return render(request, "governance/review_detail.html",
                  {**_review_context(request, review), "form": form, "can_decide": True}, status=400)


@login_required
@require_POST
def reviews_open(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if not can_open_reviews(request.user):
        raise PermissionDenied("only the governance team opens reviews")
    obj = get_visible_or_404(UseCaseRequest.objects.all(), pk=pk)
    form = OpenReviewsForm(request.POST)
    if form.is_valid():
        run_service(request, None,
                    lambda: reviews_open_service(actor=request.user, request=obj, kinds=form.cleaned_data["kinds"]),
                    "Reviews opened.")
    else:
        for error in form.errors.get("kinds", []):
            messages.error(request, f"Reviews: {error}")
    return redirect("triage-detail", pk=obj.pk)
