"""The system page's gate history and waivers panels (governance's own part of that page)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Max
from django.utils import timezone

from governance.choices import Verdict, WaiverStatus
from governance.models import GateCheck, Waiver
from governance.permissions import can_decide_waiver, can_request_waiver, can_revoke_waiver

register = template.Library()

HISTORY_ROWS = 25


@register.inclusion_tag("governance/_gate_history.html", takes_context=True)
def gate_history(context: dict[str, Any], system: Any) -> dict[str, Any]:
    """Every recorded gate call (newest first) and, per environment, the last one that passed.

    Three queries whatever the history's length: the last pass id per environment, those rows, and
    the latest calls.
    """
    environment = context["request"].GET.get("gate_env", "")
    last_pass_ids = (
        GateCheck.objects.filter(system=system, verdict=Verdict.PASS)
        .values("environment").annotate(last=Max("pk")).values_list("last", flat=True)
    )
    last_pass = GateCheck.objects.filter(pk__in=list(last_pass_ids)).select_related("user", "token").order_by(
        "environment")
    checks = GateCheck.objects.filter(system=system).select_related("user", "token").order_by("-checked_at", "-pk")
    if environment:
        checks = checks.filter(environment=environment)
    return {"system": system, "last_pass": last_pass, "checks": list(checks[:HISTORY_ROWS]),
            "gate_env": environment, "rows": HISTORY_ROWS}


@register.inclusion_tag("governance/_waivers.html", takes_context=True)
def waivers_panel(context: dict[str, Any], system: Any) -> dict[str, Any]:
    user = context["request"].user
    now = timezone.now()
    waivers = list(Waiver.objects.filter(system=system).select_related("requested_by", "decided_by", "revoked_by")
                   .order_by("-requested_at")[:50])
    for waiver in waivers:
        waiver.system = system  # the rules below read its risk owner; no query per row
        # Per-row flags for the template, set on the instances it iterates: the model class does not
        # declare them, hence the attr-defined ignores.
        waiver.live = waiver.status == WaiverStatus.APPROVED and waiver.expires_at > now  # type: ignore[attr-defined]
        waiver.can_decide = waiver.status == WaiverStatus.REQUESTED and can_decide_waiver(user, waiver)  # type: ignore[attr-defined]
        # Offered on a live waiver, and to its requester while it still waits for a decision.
        pending_own = waiver.status == WaiverStatus.REQUESTED and waiver.requested_by_id == user.pk
        waiver.can_revoke = (waiver.live or pending_own) and can_revoke_waiver(user, waiver)  # type: ignore[attr-defined]
    return {
        "system": system,
        "waivers": waivers,
        "can_request": can_request_waiver(user, system),
        "user": user,
        "csrf_token": context.get("csrf_token"),
    }
