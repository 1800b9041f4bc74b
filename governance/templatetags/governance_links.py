"""Filters that let a page link an object only when its viewer may open it (plain text otherwise), so
no page leads to a "Not found". They ask the permission modules; no rule is restated here."""

from __future__ import annotations

from typing import Any

from django import template

from governance.permissions import can_view_review
from intake.permissions import can_view_request

register = template.Library()


@register.filter
def review_opens_for(review: Any, user: Any) -> bool:
    return can_view_review(user, review)


@register.filter
def request_opens_for(request: Any, user: Any) -> bool:
    return request is not None and can_view_request(user, request)


@register.simple_tag
def fix_path(requirement: Any, slug: str, editable: bool) -> str:
    """Where an unmet requirement is fixed (the gate's ``fix_url``, as a path), or "" when the viewer
    could not act there: pages that change the system are for those who may change it."""
    from django.urls import reverse

    from governance.policy.checks import FIX_VIEWS

    trace = requirement.get("trace") if isinstance(requirement, dict) else getattr(requirement, "trace", None)
    view = FIX_VIEWS.get((trace or {}).get("check", ""))
    if view is None:
        return ""
    name, fragment = view
    if name != "system-detail" and not editable:
        return ""
    return reverse(name, kwargs={"slug": slug}) + (f"#{fragment}" if fragment else "")
