"""Signing in and keeping one's password: the brake on guessing and the password change page.

Failed sign-ins are counted by django-axes (settings ``AXES_*``: per account and per client address,
in the database so every gunicorn worker and host shares the count). This module gives it the
client address, the page a locked-out visitor sees, and the audit event when a lockout begins.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from datetime import timedelta
from typing import Any

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.models import User
from django.contrib.auth.views import PasswordChangeView
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils import timezone

from clearance.audit import audit_record

log = logging.getLogger("clearance.signin")


def _address(raw: str) -> str | None:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The address a request comes from: the socket's peer, or, when ``CLIENT_ADDRESS_HEADER`` names
    the header a trusted reverse proxy sets, that header (its right-most entry, the one the nearest
    proxy wrote). Headers are never read otherwise, so a client cannot choose its own address."""
    header = settings.CLIENT_ADDRESS_HEADER
    if header:
        raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        entries = [entry for entry in str(raw).split(",") if entry.strip()]
        if entries:
            found = _address(entries[-1])
            if found is not None:
                return found
        log.warning("%s is configured as the client address header but the request has no usable value (%r); "
                    "counting it under the peer address", header, str(raw)[:100])
    return _address(str(request.META.get("REMOTE_ADDR", "")))


def minutes_until_unlocked(request: HttpRequest, username: str | None) -> int:
    """Whole minutes (at least 1) until the last counted failure for this account or address leaves
    the cool-off window. Failures refused during a lockout are not counted (settings), so this is
    when sign-in opens again unless new failures arrive after it."""
    cool_off: timedelta | None = get_cool_off(request)
    if cool_off is None:
        return 0
    address = getattr(request, "axes_ip_address", None)
    now = timezone.now()
    match = Q(ip_address=address) if address else Q(pk__in=[])
    if username:
        match |= Q(username=username)
    latest = AccessAttempt.objects.filter(match, attempt_time__gte=now - cool_off).aggregate(t=Max("attempt_time"))["t"]
    remaining = (latest + cool_off - now).total_seconds() if latest else cool_off.total_seconds()
    return max(1, math.ceil(remaining / 60))


def lockout_message(minutes: int) -> str:
    unit = "minute" if minutes == 1 else "minutes"
    return (f"Sign-in is paused: too many failed attempts for this account or from your address. "
            f"Try again in {minutes} {unit}.")


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """The login page again, saying why and for how long (django-axes ``AXES_LOCKOUT_CALLABLE``);
    429 with Retry-After so scripts know to wait too."""
    username = get_client_username(request, credentials)
    minutes = minutes_until_unlocked(request, username)
    form = AuthenticationForm(request, initial={"username": username or ""})
    response = TemplateResponse(request, "registration/login.html",
                                {"form": form, "locked_out": lockout_message(minutes),
                                 "next": request.POST.get("next", "")},
                                status=429)
    response["Retry-After"] = str(minutes * 60)
    return response.render()


def audit_lockout(sender: Any, request: HttpRequest, username: str | None, ip_address: str | None,
                  **kwargs: Any) -> None:
    """A lockout that begins is an audit event (django-axes ``user_locked_out``). The signal also
    fires for each attempt refused during the lockout: those are not new lockouts (axes counts
    failures only on attempts it did not refuse, so the beginning is the one with a count)."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    account = User.objects.filter(username=username).first() if username else None
    obj: Any = account or (AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=ip_address))
                           .order_by("-attempt_time").first())
    if obj is None:
        return
    audit_record(
        actor=None,
        action="signin.locked_out",
        obj=obj,
        object_repr=f"sign-in for {username or '(no username)'}",
        data={"username": username or "", "address": ip_address or "", "failures": failures,
              "limit": settings.AXES_FAILURE_LIMIT, "cool_off_minutes": settings.LOGIN_COOLOFF_MINUTES,
              "known_account": account is not None},
    )
    log.warning("sign-in locked for %r from %s after %d failures", username, ip_address, failures)


class ClearancePasswordChangeView(PasswordChangeView):
    """Django's own password change (old password, the configured validators, CSRF, the session kept
    valid) with our templates; the change is an audit event in the same transaction."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password-change-done")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            user = self.request.user
            if isinstance(user, User):  # always: the view requires a signed-in user
                audit_record(actor=user, action="user.password_changed", obj=user,
                             object_repr=user.get_username())
        return response
