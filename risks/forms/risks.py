"""Risk register forms: record or edit a risk, accept its residual level."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from catalog.models import AISystem
from risks.choices import Treatment
from risks.models import Risk, scale
from risks.services import LABELS, RiskInput
from risks.taxonomy import taxonomy


def _levels(top: int) -> list[tuple[str, str]]:
    return [(str(n), str(n)) for n in range(1, top + 1)]


class RiskForm(forms.Form):
    title = forms.CharField(max_length=200, label=LABELS["title"])
    category = forms.ChoiceField(
        label=LABELS["category"], help_text="From the MIT AI Risk Repository's domains."
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label=LABELS["description"]
    )
    cause = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label=LABELS["cause"])
    consequence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label=LABELS["consequence"]
    )
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"), label=LABELS["owner"]
    )
    likelihood = forms.TypedChoiceField(coerce=int, label=LABELS["likelihood"])
    impact = forms.TypedChoiceField(coerce=int, label=LABELS["impact"])
    treatment = forms.ChoiceField(
        choices=[("", "Not treated yet"), *Treatment.choices], required=False, label=LABELS["treatment"]
    )
    treatment_rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label=LABELS["treatment_rationale"]
    )
    residual_likelihood = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, label=LABELS["residual_likelihood"]
    )
    residual_impact = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, label=LABELS["residual_impact"]
    )
    controls = forms.CharField(
        required=False,
        label=LABELS["controls"],
        help_text="Ids separated by commas, e.g. security-approval, ctrl-12.",
    )
    review_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label=LABELS["review_date"])
    other_systems = forms.ModelMultipleChoiceField(
        queryset=AISystem.objects.none(),
        required=False,
        label="Also linked to",
        help_text="Makes it a portfolio-wide risk (governance team only).",
    )

    def __init__(self, *args: Any, systems: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        likelihood, impact = scale()
        for name, top in (
            ("likelihood", likelihood),
            ("impact", impact),
            ("residual_likelihood", likelihood),
            ("residual_impact", impact),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = ([("", "—")] if name.startswith("residual") else []) + _levels(top)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", "—"), *taxonomy().choices()]
        other = self.fields["other_systems"]
        assert isinstance(other, forms.ModelMultipleChoiceField)
        if systems is None:
            del self.fields["other_systems"]
        else:
            other.queryset = systems

    def risk_input(self) -> RiskInput:
        data = self.cleaned_data
        return RiskInput(
            title=data["title"],
            category=data["category"],
            owner=data["owner"],
            likelihood=data["likelihood"],
            impact=data["impact"],
            review_date=data["review_date"],
            description=data["description"],
            cause=data["cause"],
            consequence=data["consequence"],
            residual_likelihood=data["residual_likelihood"],
            residual_impact=data["residual_impact"],
            treatment=data["treatment"],
            treatment_rationale=data["treatment_rationale"],
            controls=[c.strip() for c in data["controls"].split(",") if c.strip()],
        )

    @staticmethod
    def initial_for(risk: Risk) -> dict[str, Any]:
        return {
            "title": risk.title,
            "category": risk.category,
            "description": risk.description,
            "cause": risk.cause,
            "consequence": risk.consequence,
            "owner": risk.owner_id,
            "likelihood": risk.likelihood,
            "impact": risk.impact,
            "treatment": risk.treatment,
            "treatment_rationale": risk.treatment_rationale,
            "residual_likelihood": risk.residual_likelihood,
            "residual_impact": risk.residual_impact,
            "controls": ", ".join(risk.controls),
            "review_date": risk.review_date,
        }


class AcceptanceForm(forms.Form):
    valid_until = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        label=LABELS["expires_at"],
        help_text="The acceptance ends at 23:59 UTC that day.",
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        label=LABELS["rationale"],
        help_text="Why this residual level is acceptable for this system.",
    )

    def expires_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["valid_until"], time(23, 59), tzinfo=UTC)
