"""The governance lead's triage board and triage page: duplicates flagged, tier confirmed or
overridden with a justification, owners, reviews opened (one request or many at once), the
catalog system, and the weekly triage meeting agenda (HTML, Markdown, PDF).

These pages live in governance because they open reviews; the request writes are intake services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from clearance.errors import DomainError, NotAllowed
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service
from governance.choices import ReviewStatus
from governance.models import Review
from governance.policy.reviews import load_review_policy, review_kinds, suggested_kinds
from governance.services.reviews import triage_open_reviews
from intake import services as intake
from intake.choices import RequestStatus
from intake.forms import CreateSystemForm, OwnersForm, TierForm
from intake.models import UseCaseRequest
from intake.permissions import can_triage

TRIAGE_STATES = (RequestStatus.SUBMITTED, RequestStatus.TRIAGE, RequestStatus.IN_REVIEW)
STAGES = {
    "new": (RequestStatus.SUBMITTED, RequestStatus.TRIAGE),
    "in_review": (RequestStatus.IN_REVIEW,),
    "all": TRIAGE_STATES,
}


def _require_lead(request: AuthenticatedHttpRequest) -> None:
    if not can_triage(request.user):
        raise PermissionDenied("the triage board is for the governance team")


def _reviewers_by_kind() -> dict[str, list[Any]]:
    """Active users per review kind (one query), for the assignee pickers."""
    kinds = review_kinds()
    roles = {c.role.value: k for k, c in kinds.items()}
    users: dict[str, list[Any]] = {k: [] for k in kinds}
    rows = (
        get_user_model().objects.filter(is_active=True, groups__name__in=list(roles))
        .values_list("pk", "username", "groups__name").order_by("username")
    )
    for pk, username, group in rows:
        for kind, config in kinds.items():
            if config.role.value == group:
                users[kind].append((pk, username))
    return users


@login_required
def triage_board(request: AuthenticatedHttpRequest) -> HttpResponse:
    """New requests with their suggested tier, waiting time and flagged duplicates (bounded queries)."""
    _require_lead(request)
    stage = request.GET.get("stage", "new")
    if stage not in STAGES:
        stage = "new"
    qs = (
        UseCaseRequest.objects.filter(status__in=STAGES[stage])
        .select_related("requester", "system")
        .order_by("submitted_at", "pk")
    )
    tier = request.GET.get("tier", "")
    if tier:
        qs = qs.filter(Q(risk_tier=tier) | Q(risk_tier="", suggested_tier=tier))
    if request.GET.get("duplicates"):
        qs = qs.exclude(similar=[])
    counts = dict(
        UseCaseRequest.objects.filter(status__in=TRIAGE_STATES).values_list("status").annotate(n=Count("pk"))
    )
    page = paginate(request, qs)
    # Open reviews for this page only (one grouped query), not a GROUP BY over every row on the board.
    open_reviews = dict(
        Review.objects.filter(request__in=[r.pk for r in page.object_list], status=ReviewStatus.OPEN)
        .values_list("request").annotate(n=Count("pk"))
    )
    for row in page.object_list:
        row.open_reviews = open_reviews.get(row.pk, 0)
    return render(
        request,
        "intake/triage_board.html",
        {"page": page, "counts": counts, "stage": stage, "tier": tier,
         "new_count": counts.get(RequestStatus.SUBMITTED, 0) + counts.get(RequestStatus.TRIAGE, 0),
         "kinds": [(k, c.label) for k, c in review_kinds().items()], "reviewers": _reviewers_by_kind(),
         "duplicates": bool(request.GET.get("duplicates"))},
    )


@login_required
@require_POST
def triage_bulk_reviews(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Open the chosen reviews on every selected request and assign them; each request is its
    own transaction, so one that is not ready is reported and the others go ahead."""
    _require_lead(request)
    ids = [int(v) for v in request.POST.getlist("requests") if v.isdigit()]
    kinds = [k for k in request.POST.getlist("kinds") if k in review_kinds()]
    if not ids:
        messages.error(request, "Requests: select at least one request.")
        return redirect("triage-board")
    if not kinds:
        messages.error(request, "Reviews: choose at least one review kind.")
        return redirect("triage-board")
    User = get_user_model()
    assignees: dict[str, Any] = {}
    for kind in kinds:
        value = request.POST.get(f"assignee_{kind}", "")
        if value.isdigit():
            assignees[kind] = User.objects.filter(pk=int(value), is_active=True).first()
    done, failed = 0, []
    for obj in UseCaseRequest.objects.filter(pk__in=ids).order_by("pk"):
        try:
            triage_open_reviews(actor=request.user, request=obj, kinds=kinds, assignees=assignees,
                                         confirm_suggested_tier=bool(request.POST.get("confirm_tier")))
            done += 1
        except NotAllowed:
            raise
        except DomainError as exc:
            failed.append(f"{obj.reference}: {exc.message}")
        except ValidationError as exc:
            failed.append(f"{obj.reference}: {getattr(exc, 'message', None) or '; '.join(exc.messages)}")
    if done:
        messages.success(request, f"Reviews opened on {done} request{'s' if done != 1 else ''}.")
    for line in failed:
        messages.error(request, line)
    return redirect("triage-board")


@login_required
@require_http_methods(["GET", "POST"])
def triage_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    _require_lead(request)
    obj = get_visible_or_404(
        UseCaseRequest.objects.select_related("requester", "system", "business_owner", "technical_owner", "risk_owner",
                                              "business_owner_candidate", "technical_owner_candidate"),
        pk=pk,
    )
    tier_form = TierForm(initial={"risk_tier": obj.risk_tier or obj.suggested_tier, "tier_justification": obj.tier_justification})
    owners_form = OwnersForm(initial={"business": obj.business_owner or obj.business_owner_candidate,
                                      "technical": obj.technical_owner or obj.technical_owner_candidate,
                                      "risk": obj.risk_owner})
    system_form = CreateSystemForm(initial={"slug": "", "name": obj.title})
    if request.method == "POST":
        step = request.POST.get("step")
        done = None
        if step == "start":
            done = run_service(request, None, lambda: intake.request_start_triage(actor=request.user, request=obj), "Triage started.")
        elif step == "decide":
            to, reason = request.POST.get("to", ""), request.POST.get("reason", "")
            done = run_service(
                request, None,
                lambda: intake.request_triage_decide(actor=request.user, request=obj, to=to, reason=reason),
                "Decision recorded; the requester is notified.",
            )
        elif step == "tier":
            tier_form = TierForm(request.POST)
            if tier_form.is_valid():
                data = tier_form.cleaned_data
                done = run_service(
                    request, tier_form,
                    lambda: intake.request_set_tier(actor=request.user, request=obj, tier=data["risk_tier"],
                                                    justification=data["tier_justification"]),
                    "Risk tier set.",
                )
        elif step == "owners":
            owners_form = OwnersForm(request.POST)
            if owners_form.is_valid():
                data = owners_form.cleaned_data
                done = run_service(
                    request, owners_form,
                    lambda: intake.request_assign_owners(actor=request.user, request=obj, **data),
                    "Owners assigned.",
                )
        elif step == "system":
            system_form = CreateSystemForm(request.POST)
            if system_form.is_valid():
                data = system_form.cleaned_data
                done = run_service(
                    request, system_form,
                    lambda: intake.request_create_system(actor=request.user, request=obj, slug=data["slug"], name=data["name"]),
                    "System created in the catalog.",
                )
        if done is not None:
            return redirect("triage-detail", pk=obj.pk)
    return render(
        request,
        "intake/triage_detail.html",
        {
            "obj": obj,
            "tier_form": tier_form,
            "owners_form": owners_form,
            "system_form": system_form,
            "reviews": obj.reviews.select_related("assignee").order_by("kind"),
            "review_kinds": [(k, c.label, c.sla(obj.risk_tier or obj.suggested_tier).days) for k, c in review_kinds().items()],
            "suggested_kinds": suggested_kinds(obj),
        },
    )


# --- The weekly triage meeting agenda ---------------------------------------------------------------


def agenda_data(now: Any = None) -> dict[str, Any]:
    """Everything the weekly triage / office-hours meeting goes through (five queries)."""
    now = now or timezone.now()
    warning = timedelta(days=load_review_policy().expiry_warning_days)
    new = list(
        UseCaseRequest.objects.filter(status__in=(RequestStatus.SUBMITTED, RequestStatus.TRIAGE))
        .select_related("requester").order_by("submitted_at", "pk")
    )
    overdue = list(
        Review.objects.filter(status=ReviewStatus.OPEN, due_at__lt=now)
        .select_related("request", "assignee", "system").order_by("due_at")
    )
    expiring = list(
        Review.objects.filter(status=ReviewStatus.APPROVED, expires_at__gt=now, expires_at__lte=now + warning)
        .select_related("request", "system", "decided_by").order_by("expires_at")
    )
    changes = list(
        UseCaseRequest.objects.filter(status=RequestStatus.CHANGES_REQUESTED).select_related("requester")
        .order_by("updated_at")
    )
    lapsed = list(
        Review.objects.filter(status=ReviewStatus.OPEN, lapsed_at__isnull=False)
        .select_related("request", "system").order_by("lapsed_at")
    )
    return {"now": now, "new": new, "overdue": overdue, "expiring": expiring, "changes": changes, "lapsed": lapsed,
            "warning_days": warning.days}


@login_required
def triage_agenda(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_lead(request)
    data = agenda_data()
    fmt = request.GET.get("format", "html")
    stamp = data["now"].strftime("%Y-%m-%d")
    if fmt == "md":
        body = render_to_string("intake/triage_agenda.md", data)
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="triage-agenda-{stamp}.md"'
        return response
    if fmt == "pdf":
        from weasyprint import HTML

        html = render_to_string("intake/triage_agenda_print.html", data)
        # No base_url: the document references nothing outside itself, so WeasyPrint fetches nothing.
        pdf = HTML(string=html).write_pdf()
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="triage-agenda-{stamp}.pdf"'
        return response
    return render(request, "intake/triage_agenda.html", data)
