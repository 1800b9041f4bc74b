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
