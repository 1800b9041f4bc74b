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
from clearance.people import name_of

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
        named = (isinstance(error, ValidationError) and error.code == LABELLED) or not field.label \
            or text.lower().startswith(str(field.label).lower())
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
        return f"{days} day{'s' if days != 1 else ''}"
    hours = delta.seconds // 3600
    minutes = max(delta.seconds // 60, 0)
    if hours:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


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
    return name_of(user)


@register.filter
def person_or(user: User | None, nobody: str) -> str:
    """A user's full name, else username; ``nobody`` when there is no user."""
    return nobody if user is None else person(user)


# The choice sets a page may name by key; their classes are the apps', imported when first asked.
CHOICE_SETS = {
    "data_category": "catalog.choices.DataCategory",
    "alternative": "intake.choices.Alternative",
    "prohibited_practice": "intake.choices.ProhibitedPractice",
    "annex_iii": "intake.choices.AnnexIIIArea",
    "harm_category": "risks.choices.HarmCategory",
}


@register.filter
def choice_labels(codes: Any, choice_set: str) -> str:
    """A list of stored codes as their labels, joined by commas; an unknown code shows as stored."""
    from django.utils.module_loading import import_string

    labels = dict(import_string(CHOICE_SETS[choice_set]).choices)
    return ", ".join(str(labels.get(code, code)) for code in (codes or []))


@register.filter
def every_minutes(minutes: int | None) -> str:
    """A sync interval in words: 1440 → "every day", 60 → "every hour", 90 → "every 1 hour 30 minutes"."""
    if not minutes:
        return ""
    minutes = int(minutes)
    for size, unit in ((7 * 1440, "week"), (1440, "day"), (60, "hour")):
        if minutes == size:
            return f"every {unit}"
        if minutes % size == 0:
            return f"every {minutes // size} {unit}s"
    if minutes > 60:
        hours, rest = divmod(minutes, 60)
        return f"every {hours} hour{'s' if hours > 1 else ''} {rest} minute{'s' if rest > 1 else ''}"
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


@register.filter
def thousands(number: Any) -> str:
    """An integer with thousands separators: 303705 → "303,705"; anything else as it is."""
    if number is None or number == "":
        return ""
    try:
        return f"{int(number):,}" if float(number) == int(number) else f"{float(number):,}"
    except (TypeError, ValueError):
        return str(number)


@register.filter
def action_words(action: str | None) -> str:
    """An audit action code in words: "decision_record.proposed" → "Decision record proposed"."""
    words = str(action or "").replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
