"""Requester pages: the guided form, the one-page form, the request with its timeline, attachments."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from clearance.errors import LABELLED
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service
from intake import selectors, services, wizard
from intake.choices import RequestStatus
from intake.forms import (
    AttachmentForm,
    CommentForm,
    StepForm,
    UseCaseRequestForm,
)
from intake.models import Attachment, UseCaseRequest
from intake.permissions import can_edit_request, can_triage, is_requester
from intake.tiering import questionnaire_facts, suggest_tier


@login_required
def request_list(request: AuthenticatedHttpRequest) -> HttpResponse:
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


def _needed(form: UseCaseRequestForm) -> frozenset[str]:
    """The answers a submission needs, marked on the one-page form before anyone submits; their text
    inputs say so to assistive technology too (a group of checkboxes cannot carry aria-required)."""
    from intake.completeness import NEEDED

    for name in NEEDED:
        widget = form.fields[name].widget if name in form.fields else None
        if widget is not None and not getattr(widget, "allow_multiple_selected", False) and getattr(
                widget, "input_type", "text") not in ("checkbox", "radio"):
            widget.attrs["aria-required"] = "true"
    return frozenset(NEEDED)


def _save_and_maybe_submit(request: AuthenticatedHttpRequest, form: UseCaseRequestForm, instance: UseCaseRequest | None) -> HttpResponse | None:
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
        # Each message names its question already (code labelled): the page shows the label once.
        form.errors[field] = form.error_class([ValidationError(message, code=LABELLED) for message in errors])
        form.fields[field].widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"id_{field}_error"})


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = UseCaseRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        response = _save_and_maybe_submit(request, form, None)
        if response is not None:
            return response
    return render(request, "intake/request_form.html", {"form": form, "obj": None, "needed": _needed(form)})


@login_required
@require_http_methods(["GET", "POST"])
def request_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    if not can_edit_request(request.user, obj):
        raise PermissionDenied("only the requester can edit a draft or a request sent back for changes")
    form = UseCaseRequestForm(request.POST or None, instance=obj)
    if request.method == "GET" and request.GET.get("submit"):
        _show_submission_problems(form, obj)
    if request.method == "POST" and form.is_valid():
        response = _save_and_maybe_submit(request, form, obj)
        if response is not None:
            return response
    return render(request, "intake/request_form.html", {"form": form, "obj": obj, "needed": _needed(form)})


@login_required
def request_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(
        UseCaseRequest.objects.visible_to(request.user).select_related(
            "requester", "system", "business_owner", "technical_owner", "risk_owner",
            "business_owner_candidate", "technical_owner_candidate",
        ),
        pk=pk,
    )
    return _render_detail(request, obj, CommentForm(), AttachmentForm())


def _render_detail(request: AuthenticatedHttpRequest, obj: UseCaseRequest, comment_form: CommentForm,
                   attachment_form: AttachmentForm, status: int = 200) -> HttpResponse:
    reviews = list(obj.reviews.select_related("assignee", "decided_by", "system").order_by("kind"))
    by_requester = is_requester(request.user, obj)
    return render(
        request,
        "intake/request_detail.html",
        {
            "obj": obj,
            "reviews": reviews,
            "timeline": selectors.request_timeline(obj),
            "needed": selectors.still_needed(obj, reviews),
            "is_requester": by_requester,
            "can_edit": can_edit_request(request.user, obj),
            "is_lead": can_triage(request.user),
            "comment_form": comment_form,
            "attachment_form": attachment_form,
            "can_ask": not by_requester,
            "attachment_types": ", ".join(sorted(settings.ATTACHMENT_TYPES)),
            "attachment_limit_mb": settings.ATTACHMENT_MAX_BYTES // 1_048_576,
        },
        status=status,
    )


@login_required
@require_POST
def request_comment(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        done = run_service(
            request, form,
            lambda: services.request_comment(actor=request.user, request=obj, body=form.cleaned_data["body"],
                                             kind=form.cleaned_data["kind"] or "comment"),
            "Comment added.",
        )
        if done is not None:
            return redirect(f"{obj.get_absolute_url()}#timeline")
    form.mark_invalid_fields()
    return _render_detail(request, obj, form, AttachmentForm(), status=400)


@login_required
@require_POST
def request_attach(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        done = run_service(
            request, form,
            lambda: services.request_attach(actor=request.user, request=obj, upload=form.cleaned_data["file"]),
            "File attached.",
        )
        if done is not None:
            return redirect(f"{obj.get_absolute_url()}#timeline")
    form.mark_invalid_fields()
    return _render_detail(request, obj, CommentForm(), form, status=400)


@login_required
def attachment_download(request: AuthenticatedHttpRequest, pk: int) -> FileResponse:
    attachment = get_visible_or_404(Attachment.objects.visible_to(request.user), pk=pk)
    path = services.attachment_path(attachment)
    if not path.is_file():
        raise Http404("the file is missing from storage")
    response = FileResponse(path.open("rb"), as_attachment=True, filename=attachment.original_name,
                            content_type=attachment.content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_POST
def request_submit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    run_service(request, None, lambda: services.request_submit(actor=request.user, request=obj), "Request submitted for triage.")
    return redirect("request-detail", pk=obj.pk)


@login_required
@require_POST
def request_withdraw(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    run_service(request, None, lambda: services.request_withdraw(actor=request.user, request=obj), "Request withdrawn.")
    return redirect("request-detail", pk=obj.pk)


# --- The guided request form -------------------------------------------------------------------------


def _wizard_context(obj: UseCaseRequest | None, current: str, failing: bool = False) -> dict[str, Any]:
    """The step navigation shows a step's real state: ✓ only when nothing in it stops the submission
    (no missing answer, no answer too short or contradicting another) and it is not the step whose
    answers were just refused."""
    from intake.completeness import contradictions, submission_problems

    gaps = wizard.questionnaire_gaps(obj) if obj is not None else {s: ["x"] for s in wizard.STEP_SLUGS}
    not_done = set(gaps) | ({current} if failing else set())
    if obj is not None:
        values = wizard.values_of(obj)
        problems = {**submission_problems(values), **contradictions(values)}
        not_done |= {step.slug for step in wizard.STEPS
                     if any(name in problems for section in step.sections for name in section.fields)}
    nav = [
        {"slug": s.slug, "title": s.title, "done": s.slug not in not_done, "current": s.slug == current,
         "reachable": obj is not None or s.slug == wizard.STEP_SLUGS[0]}
        for s in wizard.STEPS
    ]
    nav.append({"slug": wizard.REVIEW_STEP, "title": "Review and submit", "done": False,
                "current": current == wizard.REVIEW_STEP, "reachable": obj is not None})
    return {"obj": obj, "nav": nav, "current": current, "gaps": gaps,
            "number": ([*wizard.STEP_SLUGS, wizard.REVIEW_STEP].index(current) + 1), "total": len(wizard.STEPS) + 1}


def _editable_request(request: AuthenticatedHttpRequest, pk: int) -> UseCaseRequest:
    obj = get_visible_or_404(UseCaseRequest.objects.visible_to(request.user), pk=pk)
    if not can_edit_request(request.user, obj):
        raise PermissionDenied("only the requester can edit a draft or a request sent back for changes")
    return obj


def _step_url(obj: UseCaseRequest, slug: str) -> str:
    return reverse("request-step", kwargs={"pk": obj.pk, "step": slug})


def _handle_step(request: AuthenticatedHttpRequest, obj: UseCaseRequest | None, step: wizard.Step) -> HttpResponse:
    instance = obj if obj is not None else UseCaseRequest(requester=request.user)
    action = request.POST.get("action", "next") if request.method == "POST" else ""
    if request.method == "POST" and request.POST.get("_preview"):
        # htmx asks for the step again with the answers so far: sections appear or go, nothing is saved.
        form = StepForm(request.POST, instance=instance, step=step, strict=False)
        return render(request, "intake/_step_sections.html", {"form": form})
    form = StepForm(request.POST or None, instance=instance, step=step, strict=action == "next")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            answers = form.answers()
            saved = run_service(
                request, form,
                lambda: services.request_save_step(actor=request.user, request=obj, step=step.slug, answers=answers,
                                                   completed=not wizard.step_gaps(step, {**wizard.values_of(instance),
                                                                                         **answers})),
                "Draft saved." if action == "save" else f"{step.title}: saved.",
            )
            if saved is not None:
                if action == "save":
                    return redirect("request-detail", pk=saved.pk)
                if action == "back":
                    target = wizard.previous_step(step.slug) or step.slug
                else:
                    target = wizard.next_step(step.slug)
                return redirect(_step_url(saved, target))
        form.mark_invalid_fields()
        status = 400
    return render(request, "intake/wizard_step.html",
                  {**_wizard_context(obj, step.slug, failing=status == 400), "form": form, "step": step},
                  status=status)


@login_required
@require_http_methods(["GET", "POST"])
def request_start(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _handle_step(request, None, wizard.STEPS[0])


@login_required
@require_http_methods(["GET", "POST"])
def request_step(request: AuthenticatedHttpRequest, pk: int, step: str) -> HttpResponse:
    obj = _editable_request(request, pk)
    if step == "resume":
        return redirect(_step_url(obj, wizard.resume_step(obj)))
    if step == wizard.REVIEW_STEP:
        return _review_step(request, obj)
    if step not in wizard.STEP_BY_SLUG:
        raise Http404("no such step")
    return _handle_step(request, obj, wizard.STEP_BY_SLUG[step])


def _review_step(request: AuthenticatedHttpRequest, obj: UseCaseRequest) -> HttpResponse:
    gaps = wizard.questionnaire_gaps(obj)
    if request.method == "POST":
        # The guided form asks more than triage needs, and triage's own rule (the one the submit
        # service applies) on top: both are named here, before anything is sent.
        problems = services.submission_problems(obj)
        for field_messages in problems.values():
            for message in field_messages:
                messages.error(request, message)
        if gaps:
            messages.error(request, "Some answers are still missing; each step below says which.")
        elif not problems:
            done = run_service(request, None, lambda: services.request_submit(actor=request.user, request=obj),
                               "Request submitted for triage.")
            if done is not None:
                return redirect("request-detail", pk=obj.pk)
    suggestion = suggest_tier(questionnaire_facts(obj))
    labels = {name: field.label for name, field in UseCaseRequestForm().fields.items()}
    summary = []
    values = wizard.values_of(obj)
    for step in wizard.STEPS:
        rows = []
        for sec in wizard.active_sections(step, values):
            for name in sec.fields:
                rows.append((labels.get(name, name), _display(obj, name)))
        summary.append({"step": step, "rows": rows, "gaps": [labels.get(n, n) for n in gaps.get(step.slug, [])]})
    return render(request, "intake/wizard_review.html",
                  {**_wizard_context(obj, wizard.REVIEW_STEP), "summary": summary, "suggestion": suggestion},
                  status=400 if request.method == "POST" else 200)


def _display(obj: UseCaseRequest, name: str) -> str:
    value = getattr(obj, name)
    display = getattr(obj, f"get_{name}_display", None)
    if display is not None and value:
        return str(display())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) or "—"
    if value is None or value == "":
        return "—"
    if hasattr(value, "get_username"):
        return str(value.get_full_name() or value.get_username())
    return str(value)
