"""Template helpers: sanitized Markdown, status badges, relative ages, field errors by label."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import markdown as md
import nh3
from django import template
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.forms import BoundField
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from clearance.errors import LABELLED

register = template.Library()

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "a", "hr",
}


@register.filter
def field_errors(field: BoundField) -> list[str]:
    """A field's errors, each naming the field by its label exactly once: a message that already
    names it (code ``labelled``, e.g. the completeness rule's) is shown as it is, any other after the
    label."""
    errors = field.errors
    lines = []
    for index, error in enumerate(errors.data):
        text = str(errors[index])
        named = isinstance(error, ValidationError) and error.code == LABELLED
        lines.append(text if named else f"{field.label}: {text}")
    return lines


@register.filter(name="markdown")
def render_markdown(text: str) -> SafeString:
    """Markdown to HTML, then sanitized with nh3 (no raw HTML, scripts or event handlers survive)."""
    html = md.markdown(text or "", extensions=["tables", "fenced_code"], output_format="html")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}}, link_rel="noopener noreferrer nofollow")
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 on the line above


@register.filter
def age(moment: datetime | None) -> str:
    if moment is None:
        return ""
    delta = timezone.now() - moment
    days = delta.days
    if days >= 1:
        return f"{days}d"
    hours = delta.seconds // 3600
    return f"{hours}h" if hours else f"{max(delta.seconds // 60, 0)}m"


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> object:
    return mapping.get(key) if mapping else None


@register.simple_tag
def status_class(status: str) -> str:
    return {
        "met": "ok", "pass": "ok", "approved": "ok", "accepted": "ok", "published": "ok",
        "missing": "warn", "stale": "warn", "open": "info", "changes_requested": "warn", "proposed": "info",
        "submitted": "info", "triage": "info", "in_review": "info", "draft": "muted", "withdrawn": "muted",
        "partially_met": "warn", "failed": "bad", "block": "bad", "rejected": "bad", "superseded": "muted", "waived": "info",
    }.get(str(status), "muted")


@register.filter
def person(user: User | None) -> str:
    """A user's full name, else username; a dash for nobody."""
    if user is None:
        return "—"
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or getattr(user, "username", str(user))
