"""The project's form renderer: every ``{{ form }}`` / ``as_div`` marks its required fields before
anyone submits (a visible * beside the label; the widget carries ``required``), and shows each error
beside its field, led by the field's label, in a container announced to screen readers."""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates


class FormRenderer(DjangoTemplates):
    form_template_name = "clearance/forms/div.html"
    field_template_name = "clearance/forms/field.html"
