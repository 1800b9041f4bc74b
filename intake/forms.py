"""Forms for the request questionnaire and triage. They validate input; services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from catalog.choices import DataCategory, RiskTier
from intake.choices import Alternative, ProhibitedPractice
from intake.models import UseCaseRequest
from intake.services import ANSWER_FIELDS


class UseCaseRequestForm(forms.ModelForm):
    alternatives_considered = forms.MultipleChoiceField(
        choices=Alternative.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Alternatives considered",
        help_text="What did you consider before AI? A good answer says why each falls short.",
    )
    data_categories = forms.MultipleChoiceField(
        choices=DataCategory.choices, widget=forms.CheckboxSelectMultiple, required=False, label="Data categories"
    )
    prohibited_practices = forms.MultipleChoiceField(
        choices=ProhibitedPractice.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Does the use involve any of these practices?",
        help_text="EU AI Act Article 5. Any of these makes the use case prohibited.",
    )

    class Meta:
        model = UseCaseRequest
        fields = list(ANSWER_FIELDS)
        labels = {
            "problem": "Business problem",
            "business_outcome": "Business outcome and KPI (with today's baseline)",
            "why_ai": "Why AI?",
            "users_affected": "Who is affected?",
            "customer_facing": "Customers see or use the output",
            "human_in_the_loop": "A person reviews outputs before they take effect",
            "fallback": "Fallback when the model is wrong or unavailable",
            "annex_iii_area": "Area of use (EU AI Act Annex III)",
            "interacts_with_people": "People interact with the system directly (e.g. a chatbot)",
            "generates_synthetic_content": "Generates text, images, audio or video",
            "vendor_model": "Vendor or model in mind",
            "expected_volume": "Expected volume (e.g. 2,000 requests a day)",
        }
        widgets = {
            "problem": forms.Textarea(attrs={"rows": 3}),
            "business_outcome": forms.Textarea(attrs={"rows": 3}),
            "why_ai": forms.Textarea(attrs={"rows": 3}),
            "users_affected": forms.Textarea(attrs={"rows": 2}),
            "fallback": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A draft may be incomplete; submitting checks the required answers (the service says which).
        for name in ("problem", "business_outcome", "why_ai"):
            self.fields[name].required = False

    def answers(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in ANSWER_FIELDS}


def _user_choices() -> Any:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.username})" if name else obj.username


class TierForm(forms.Form):
    risk_tier = forms.ChoiceField(choices=RiskTier.choices, label="Risk tier")
    tier_justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="Justification",
        help_text="Required when the tier differs from the suggested one.",
    )


class OwnersForm(forms.Form):
    business = UserChoiceField(queryset=_user_choices(), required=False, label="Business owner")
    technical = UserChoiceField(queryset=_user_choices(), required=False, label="Technical owner")
    risk = UserChoiceField(queryset=_user_choices(), required=False, label="Risk owner")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.queryset = _user_choices()


class CreateSystemForm(forms.Form):
    slug = forms.SlugField(max_length=80, label="Slug", help_text="The stable key CI uses at the gate, e.g. support-copilot.")
    name = forms.CharField(max_length=200, required=False, label="Name", help_text="Defaults to the request title.")
