"""The project's form renderer: every ``{{ form }}`` / ``as_div`` marks its required fields before
anyone submits (a visible * beside the label; the widget carries ``required``), and shows each error
beside its field, led by the field's label, in a container announced to screen readers."""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates

# ``form.as_div`` names Django's own template instead of asking the renderer; serve ours for it too.
OVERRIDES = {"django/forms/div.html": "clearance/forms/div.html"}


class FormRenderer(DjangoTemplates):
    form_template_name = "clearance/forms/div.html"
    field_template_name = "clearance/forms/field.html"

    def get_template(self, template_name: str) -> Any:
        return super().get_template(OVERRIDES.get(template_name, template_name))
