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
