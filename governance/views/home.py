"""The home page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.models import AISystem
from clearance.models import Notification
from clearance.roles import ROLE_LABELS, Role, roles_of
from clearance.web import AuthenticatedHttpRequest
from governance.choices import ReviewStatus
from governance.models import Review
from governance.permissions import queue_kinds
from intake.models import UseCaseRequest


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    mine = roles_of(request.user)
    queues = queue_kinds(request.user)
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
