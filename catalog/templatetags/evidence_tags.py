"""The system page's evidence panel as one inclusion tag, so the governance template adds one line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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
