"""The home page: what needs this person now, a section per role they hold
(``governance.selectors.home``), each in a fixed number of queries."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from clearance.models import Notification
from clearance.roles import ROLE_LABELS, Role, has_role, reads_portfolio, roles_of
from clearance.web import AuthenticatedHttpRequest
from governance.permissions import can_read_dashboard
from governance.selectors.home import (
    SHOWN,
    lead_home,
    owner_home,
    portfolio_summary,
    requester_home,
    reviewer_home,
)
from intake.permissions import can_triage


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    now = timezone.now()
    mine = roles_of(user)
    requests = requester_home(user)
    owned = owner_home(user, now)
    unread = Notification.objects.filter(recipient=user, read_at=None)
    return render(
        request,
        "home.html",
        {
            "roles": [ROLE_LABELS[Role(r)] for r in sorted(mine) if r in Role._value2member_map_],
            # A section shows when the person holds the role, or has something in it anyway (a lead
            # who asked for a system, an owner named before being given the role).
            "requests": requests if requests["count"] or has_role(user, Role.REQUESTER) else None,
            "review": reviewer_home(user, now),
            "lead": lead_home(now) if can_triage(user) else None,
            "owned": owned if owned["count"] or has_role(user, Role.SYSTEM_OWNER) else None,
            "portfolio": portfolio_summary(now) if reads_portfolio(user) else None,
            "can_dashboard": can_read_dashboard(user),
            "notifications": list(unread[:SHOWN]),
            "unread": unread.count(),
            "shown": SHOWN,
        },
    )
