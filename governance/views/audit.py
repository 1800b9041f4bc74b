"""The audit trail page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render

from clearance.audit import verify_chain
from clearance.checkpoints import verify_checkpoints
from clearance.models import AuditEvent
from clearance.permissions import can_read_audit
from clearance.web import AuthenticatedHttpRequest, paginate


@login_required
def audit_trail(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not can_read_audit(request.user):
        raise PermissionDenied("the audit trail is for the governance team and auditors")
    qs = AuditEvent.objects.select_related("actor").order_by("-seq")
    action = request.GET.get("action", "").strip()
    if action:
        qs = qs.filter(action__startswith=action)
    report = anchors = None
    if request.GET.get("verify"):
        report = verify_chain()
        # The table alone cannot show a cut tail: compare it with the signed checkpoints too.
        anchors = verify_checkpoints() if report.ok else None
    return render(request, "governance/audit.html", {"page": paginate(request, qs, 50), "action": action,
                                                     "report": report, "anchors": anchors})
