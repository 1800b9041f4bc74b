"""Webhook pages (administrators only): the list, create and edit, the delivery log with its filter,
secret rotation, "Send test", redelivery of a failed delivery, deletion."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service
from integrations.forms import LABELS, DeliveryFilterForm, WebhookCreateForm, WebhookForm
from integrations.models import Delivery, Webhook
from integrations.permissions import can_manage_webhooks
from integrations.selectors import delivery_log, status_counts, webhooks_with_counts
from integrations.services import (
    delivery_redeliver,
    webhook_create,
    webhook_delete,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)

DENIED = "Only administrators manage webhooks."


def _require_admin(request: AuthenticatedHttpRequest) -> None:
    if not can_manage_webhooks(request.user):
        raise PermissionDenied(DENIED)


def _webhook(request: AuthenticatedHttpRequest, pk: int) -> Webhook:
    return get_visible_or_404(Webhook.objects.visible_to(request.user), pk=pk)


@login_required
def webhook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_admin(request)
    page = paginate(request, webhooks_with_counts(Webhook.objects.visible_to(request.user)), per_page=50)
    return render(request, "integrations/webhook_list.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def webhook_create_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_admin(request)
    form = WebhookCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = run_service(request, form, lambda: webhook_create(
            actor=request.user, name=data["name"], url=data["url"], format=data["format"],
            events=data["events"], active=data["active"], **form.service_secret()), "Webhook saved.", LABELS)
        if saved is not None:
            # The one time the secret is shown: in this answer, never stored in the session.
            return render(request, "integrations/webhook_secret.html",
                          {"webhook": saved.webhook, "secret": saved.secret, "created": True})
    return render(request, "integrations/webhook_form.html", {"form": form, "webhook": None},
                  status=400 if form.errors else 200)


@login_required
def webhook_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    filters = DeliveryFilterForm(request.GET or None)
    status = filters.cleaned_data.get("status", "") if filters.is_valid() else ""
    page = paginate(request, delivery_log(webhook, status), per_page=25)
    return render(request, "integrations/webhook_detail.html",
                  {"webhook": webhook, "page": page, "filters": filters, "counts": status_counts(webhook)})


@login_required
@require_http_methods(["GET", "POST"])
def webhook_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    initial = {"name": webhook.name, "url": webhook.url, "format": webhook.format, "events": webhook.events,
               "active": webhook.active}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = run_service(request, form, lambda: webhook_update(
            actor=request.user, webhook=webhook, name=data["name"], url=data["url"], format=data["format"],
            events=data["events"], active=data["active"]), "Webhook saved.", LABELS)
        if done is not None:
            return redirect(done)
    return render(request, "integrations/webhook_form.html", {"form": form, "webhook": webhook},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def webhook_rotate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    saved = run_service(request, None, lambda: webhook_rotate_secret(actor=request.user, webhook=webhook),
                        "A new secret is in use.")
    if saved is None:
        return redirect(webhook)
    return render(request, "integrations/webhook_secret.html",
                  {"webhook": saved.webhook, "secret": saved.secret, "created": False})


@login_required
@require_POST
def webhook_delete_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    run_service(request, None, lambda: webhook_delete(actor=request.user, webhook=webhook),
                f"The webhook “{webhook.name}” and its delivery log were deleted.")
    return redirect("webhook-list")


@login_required
@require_POST
def webhook_test(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    run_service(request, None, lambda: webhook_send_test(actor=request.user, webhook=webhook),
                "A test event is on its way; its delivery shows below.", LABELS)
    return redirect(webhook)


@login_required
@require_POST
def delivery_redeliver_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    delivery = get_visible_or_404(
        Delivery.objects.filter(webhook__in=Webhook.objects.visible_to(request.user)), pk=pk)
    run_service(request, None, lambda: delivery_redeliver(actor=request.user, delivery=delivery),
                "The delivery is queued again.")
    return redirect("webhook-detail", pk=delivery.webhook_id)
