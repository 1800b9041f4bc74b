"""Forms for editing and importing model cards."""

from __future__ import annotations

from typing import Any

from django import forms

from catalog.choices import CardSourceFormat
from catalog.models import ModelCard
from catalog.services.cards import MODEL_CARD_SECTIONS, parse_metric_targets
from clearance.errors import DomainError


class ModelCardForm(forms.ModelForm[ModelCard]):
    metric_targets = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Metric thresholds",
        help_text="One per line, e.g. 'accuracy >= 0.9' or 'unsafe_action_rate <= 0'.",
    )
    review_due = forms.DateField(required=False, label="Review by", widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="When this card must be reviewed again (ownership-gaps report).")

    class Meta:
        model = ModelCard
        fields = list(MODEL_CARD_SECTIONS)
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in MODEL_CARD_SECTIONS}
        labels = {"body_markdown": "Further notes (Markdown)", "caveats": "Caveats and recommendations"}
        help_texts = {name: "Markdown; HTML is shown as text, never run." for name in MODEL_CARD_SECTIONS}

    def clean_metric_targets(self) -> list[dict[str, Any]]:
        try:
            return parse_metric_targets(self.cleaned_data.get("metric_targets") or "")
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc


class ModelCardImportForm(forms.Form):
    format = forms.ChoiceField(choices=CardSourceFormat.choices, label="Format")
    file = forms.FileField(label="File", help_text="README.md with YAML front matter, or a Model Card Toolkit JSON.")
