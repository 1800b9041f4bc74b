"""The system page's evidence panel as one inclusion tag, so the governance template adds one line, and
the filters that show a source's location and errors as the viewer may read them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django import template

from catalog.permissions import can_edit_system

register = template.Library()


@register.inclusion_tag("catalog/evidence/panel.html", takes_context=True)
def evidence_panel(context: template.Context, system: Any) -> dict[str, Any]:
    from catalog.views.evidence import evidence_context

    user = context["request"].user
    return {"system": system, "editable": can_edit_system(user, system), **evidence_context(system)}


@register.filter
def sub(value: Decimal, other: Decimal) -> Decimal:
    return value - other


# An absolute path's directories: a "/" not inside a URL (not after a word character, ":" or "/").
_DIRECTORIES = re.compile(r"(?<![\w:/.])/(?:[^\s/'\"]+/)+")


@register.filter
def paths_for(text: str, editable: bool) -> str:
    """Text about a source (its location, a run's error) as the viewer may read it: whoever may edit
    the source sees server paths in full; everyone else sees only the file's name, since where the
    server keeps its files is not theirs to know."""
    if editable or not text:
        return text
    return _DIRECTORIES.sub("…/", str(text))


@register.filter
def location_for(location: str, editable: bool) -> str:
    """A source's location for the viewer: in full for editors; for others a URL's scheme and host
    (its path and query may carry more than they need) and a file's name only."""
    if editable:
        return location
    parts = urlsplit(location)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.hostname or ''}"
    return "…/" + location.rstrip("/").rsplit("/", 1)[-1]
