"""Requester pages and the governance lead's triage board."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from catalog.choices import PERSONAL_DATA
from clearance.audit import history_for
from clearance.roles import Role, has_role
from clearance.web import get_visible_or_404, paginate, run_service
from intake import services
from intake.choices import EDITABLE, RequestStatus
from intake.forms import CreateSystemForm, OwnersForm, TierForm, UseCaseRequestForm
from intake.models import UseCaseRequest

TRIAGE_STATES = (RequestStatus.SUBMITTED, RequestStatus.TRIAGE, RequestStatus.IN_REVIEW)


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    qs = UseCaseRequest.objects.visible_to(request.user).select_related("requester", "system")
    status = request.GET.get("status", "")
    if status in RequestStatus.values:
        qs = qs.filter(status=status)
    if request.GET.get("mine"):
        qs = qs.filter(requester=request.user)
    return render(
        request,
        "intake/request_list.html",
        {"page": paginate(request, qs), "statuses": RequestStatus.choices, "status": status},
    )


def _save_and_maybe_submit(request: HttpRequest, form: UseCaseRequestForm, instance: UseCaseRequest | None) -> HttpResponse | None:
    answers = form.answers()
    if instance is None:
        saved = run_service(request, form, lambda: services.request_create_draft(requester=request.user, **answers), "Draft saved.")
    else:
        saved = run_service(
            request, form, lambda: services.request_update_answers(actor=request.user, request=instance, **answers), "Answers saved."
        )
    if saved is None:
        return None
    if "submit" in request.POST:
        submitted = run_service(
            request, form, lambda: services.request_submit(actor=request.user, request=saved), "Request submitted for triage."
        )
        if submitted is None:
            # The draft is saved; show the edit page with the missing answers marked.
            return redirect(f"{reverse('request-edit', kwargs={'pk': saved.pk})}?submit=1") if instance is None else None
    return redirect("request-detail", pk=saved.pk)


def _show_submission_problems(form: UseCaseRequestForm, obj: UseCaseRequest) -> None:
    """Mark, on the unbound edit form, the answers a submission still needs."""
    form.full_clean()  # an unbound form ends up with an empty error dict we may fill
    for field, errors in services.submission_problems(obj).items():
        form.errors[field] = form.error_class(errors)
        form.fields[field].widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"id_{field}_error"})


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    form = UseCaseRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        response = _save_and_maybe_submit(request, form, None)
        if response is not None:
            return response
    return render(request, "intake/request_form.html", {"form": form, "obj": None})


@login_required
@require_http_methods(["GET", "POST"])
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    if obj.requester_id != request.user.pk or obj.status not in EDITABLE:
        raise PermissionDenied("only the requester can edit a draft or a request sent back for changes")
    form = UseCaseRequestForm(request.POST or None, instance=obj)
    if request.method == "GET" and request.GET.get("submit"):
        _show_submission_problems(form, obj)
    if request.method == "POST" and form.is_valid():
        response = _save_and_maybe_submit(request, form, obj)
        if response is not None:
            return response
    return render(request, "intake/request_form.html", {"form": form, "obj": obj})


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(
        UseCaseRequest.objects.visible_to(request.user).select_related(
            "requester", "system", "business_owner", "technical_owner", "risk_owner"
        ),
        pk=pk,
    )
    return render(
        request,
        "intake/request_detail.html",
        {
            "obj": obj,
            "reviews": obj.reviews.select_related("assignee", "decided_by").order_by("kind"),
            "history": history_for(obj).order_by("seq"),
            "is_requester": obj.requester_id == request.user.pk,
            "editable": obj.status in EDITABLE,
            "is_lead": has_role(request.user, Role.GOVERNANCE_LEAD, Role.ADMIN),
        },
    )


@login_required
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    run_service(request, None, lambda: services.request_submit(actor=request.user, request=obj), "Request submitted for triage.")
    return redirect("request-detail", pk=obj.pk)


@login_required
@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    run_service(request, None, lambda: services.request_withdraw(actor=request.user, request=obj), "Request withdrawn.")
    return redirect("request-detail", pk=obj.pk)


def _require_lead(request: HttpRequest) -> None:
    if not has_role(request.user, Role.GOVERNANCE_LEAD, Role.ADMIN):
        raise PermissionDenied("the triage board is for the governance team")


@login_required
def triage_board(request: HttpRequest) -> HttpResponse:
    _require_lead(request)
    qs = (
        UseCaseRequest.objects.filter(status__in=TRIAGE_STATES)
        .select_related("requester", "system")
        .annotate(open_reviews=Count("reviews", filter=Q(reviews__status="open")))
        .order_by("submitted_at")
    )
    counts = dict(
        UseCaseRequest.objects.filter(status__in=TRIAGE_STATES).values_list("status").annotate(n=Count("pk"))
    )
    return render(request, "intake/triage_board.html", {"page": paginate(request, qs), "counts": counts})


@login_required
@require_http_methods(["GET", "POST"])
def triage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_lead(request)
    obj = get_visible_or_404(
        UseCaseRequest.objects.select_related("requester", "system", "business_owner", "technical_owner", "risk_owner"),
        pk=pk,
    )
    tier_form = TierForm(initial={"risk_tier": obj.risk_tier or obj.suggested_tier, "tier_justification": obj.tier_justification})
    owners_form = OwnersForm(initial={"business": obj.business_owner, "technical": obj.technical_owner, "risk": obj.risk_owner})
    system_form = CreateSystemForm(initial={"slug": "", "name": obj.title})
    if request.method == "POST":
        step = request.POST.get("step")
        done = None
        if step == "start":
            done = run_service(request, None, lambda: services.request_start_triage(actor=request.user, request=obj), "Triage started.")
        elif step == "decide":
            to, reason = request.POST.get("to", ""), request.POST.get("reason", "")
            done = run_service(
                request, None,
                lambda: services.request_triage_decide(actor=request.user, request=obj, to=to, reason=reason),
                "Decision recorded; the requester is notified.",
            )
        elif step == "tier":
            tier_form = TierForm(request.POST)
            if tier_form.is_valid():
                data = tier_form.cleaned_data
                done = run_service(
                    request, tier_form,
                    lambda: services.request_set_tier(actor=request.user, request=obj, tier=data["risk_tier"],
                                                      justification=data["tier_justification"]),
                    "Risk tier set.",
                )
        elif step == "owners":
            owners_form = OwnersForm(request.POST)
            if owners_form.is_valid():
                data = owners_form.cleaned_data
                done = run_service(
                    request, owners_form,
                    lambda: services.request_assign_owners(actor=request.user, request=obj, **data),
                    "Owners assigned.",
                )
        elif step == "system":
            system_form = CreateSystemForm(request.POST)
            if system_form.is_valid():
                data = system_form.cleaned_data
                done = run_service(
                    request, system_form,
                    lambda: services.request_create_system(actor=request.user, request=obj, slug=data["slug"], name=data["name"]),
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
            "review_kinds": [("security", "Security"), ("legal", "Legal"), ("privacy", "Privacy"), ("risk", "Risk")],
            "suggested_kinds": {"security", "legal"} | ({"privacy"} if PERSONAL_DATA & set(obj.data_categories) else set()),
        },
    )
