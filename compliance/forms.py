"""Forms of the compliance pages: attest a control, set the operator role."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from compliance.choices import GpaiModel, OperatorRole


class AttestationForm(forms.Form):
    control = forms.ChoiceField(label="Control")
    statement = forms.CharField(label="Statement", widget=forms.Textarea(attrs={"rows": 3}), max_length=4000,
                                help_text="What holds, and how you know.")
    evidence_url = forms.URLField(label="Evidence link", required=False, assume_scheme="https")
    expires_on = forms.DateField(label="Review by", widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="After this day the attestation is stale.")

    def __init__(self, *args: Any, controls: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["control"].choices = controls  # type: ignore[attr-defined]

    def expires_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["expires_on"], time(23, 59), tzinfo=timezone.get_current_timezone())


class OperatorProfileForm(forms.Form):
    role = forms.ChoiceField(label="Operator role", choices=OperatorRole.choices)
    gpai_model = forms.ChoiceField(label="General-purpose AI model", choices=GpaiModel.choices)
    generative = forms.BooleanField(label="Generative system", required=False)
    note = forms.CharField(label="Why", required=False, max_length=2000)


class FrameworkImportForm(forms.Form):
    catalog = forms.FileField(label="OSCAL catalog", help_text="A catalog in OSCAL JSON (at most 8 MB).")
    framework_id = forms.RegexField(label="Framework id", regex=r"^[a-z0-9][a-z0-9-]*$", max_length=40,
                                    help_text="Lower-case letters, digits and hyphens; importing the same id again "
                                              "replaces that imported framework.")
    source_url = forms.URLField(label="Source link", assume_scheme="https", max_length=500,
                                help_text="An https:// address where the catalog comes from.")
    licence = forms.CharField(label="Licence", max_length=400, help_text="Under which licence it may be used.")
    note = forms.CharField(label="Note", required=False, max_length=400)
