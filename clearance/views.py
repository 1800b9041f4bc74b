"""Notifications, API tokens and the error pages (the home dashboard aggregates every app, so it
lives in governance)."""

from __future__ import annotations

import sys
from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from clearance.models import ApiToken, Notification
from clearance.tokens import Scope, api_token_create, api_token_revoke
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service


@login_required
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = Notification.objects.filter(recipient=request.user)
    return render(request, "notifications.html", {"page": paginate(request, qs)})


@login_required
@require_POST
def notifications_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    Notification.objects.filter(recipient=request.user, read_at=None).update(read_at=timezone.now())
    return redirect("notifications")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where it is used, e.g. 'support-copilot GitHub Actions'.")
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in Scope.ALL], widget=forms.CheckboxSelectMultiple,
                                       initial=[Scope.GATE_CHECK])
    expires_in_days = forms.IntegerField(min_value=1, max_value=730, initial=90, label="Expires in (days)")
    systems = forms.CharField(required=False, max_length=2000, label="Only these systems",
                              help_text="Comma-separated system slugs; empty: every system you may see.")
    rate_per_minute = forms.IntegerField(required=False, min_value=1, max_value=100_000,
                                         label="Rate limit (requests per minute)",
                                         help_text="Empty: the server's default.")


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        issued = run_service(
            request, form,
            lambda: api_token_create(user=request.user, name=data["name"], scopes=data["scopes"],
                                     expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
                                     systems=[s for s in data["systems"].split(",") if s.strip()],
                                     rate_per_minute=data["rate_per_minute"]),
            "Token created. Copy it now: it is not shown again.",
        )
        if issued is not None:
            form = TokenForm()
    return render(
        request,
        "tokens.html",
        {"form": form, "issued": issued, "tokens": ApiToken.objects.visible_to(request.user).select_related("user")},
    )


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    token = get_visible_or_404(ApiToken.objects.visible_to(request.user), pk=pk)
    run_service(request, None, lambda: api_token_revoke(token=token, actor=request.user), "Token revoked.")
    return redirect("tokens")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from clearance.api import error_body

    if _wants_json(request):
        from django.http import JsonResponse

        return JsonResponse(error_body("not_found", "not found"), status=404)
    return render(request, "errors/404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from clearance.api import error_body

    message = str(exception) if exception and str(exception) else "you may not do this"
    if _wants_json(request):
        from django.http import JsonResponse

        return JsonResponse(error_body("permission_denied", message), status=403)
    return render(request, "errors/403.html", {"message": message}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    from clearance.api import error_body
    from clearance.outages import is_outage, outage_answer

    # Django calls this handler inside its except block: the exception being handled is at hand.
    exc = sys.exc_info()[1]
    if exc is not None and is_outage(exc):
        return outage_answer(request, exc)

    if _wants_json(request):
        from django.http import JsonResponse

        return JsonResponse(error_body("server_error", "internal error; it has been logged"), status=500)
    return render(request, "errors/500.html", status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from clearance.api import error_body

    if _wants_json(request):
        from django.http import JsonResponse

        return JsonResponse(error_body("bad_request", "bad request"), status=400)
    return render(request, "errors/400.html", status=400)
