"""Forms for the request questionnaire and triage. They validate input; services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import QuerySet

from catalog.choices import DataCategory, RiskTier
from intake.choices import Alternative, AnnexIIIArea, ProhibitedPractice
from intake.completeness import LABELS
from intake.models import UseCaseRequest
from intake.services import ANSWER_FIELDS
from intake.wizard import HELP, Section, Step, active_sections, values_of


def mark_invalid_fields(form: forms.BaseForm) -> None:
    """Tie each error to its field for assistive technology (aria-invalid, aria-describedby)."""
    for name in form.errors:
        if name in form.fields:
            bound = form[name]
            described = f"{bound.auto_id}_error" + (f" {bound.auto_id}_helptext" if form.fields[name].help_text else "")
            form.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": described})


class UseCaseRequestForm(forms.ModelForm[UseCaseRequest]):
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
        labels = dict(LABELS)
        widgets = {
            "problem": forms.Textarea(attrs={"rows": 3}),
            "business_outcome": forms.Textarea(attrs={"rows": 3}),
            "why_ai": forms.Textarea(attrs={"rows": 3}),
            "users_affected": forms.Textarea(attrs={"rows": 2}),
            "fallback": forms.Textarea(attrs={"rows": 2}),
            "deterministic_parts": forms.Textarea(attrs={"rows": 2}),
            "data_sources": forms.Textarea(attrs={"rows": 2}),
            "privacy_data_subjects": forms.Textarea(attrs={"rows": 2}),
            "annex_iii_details": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A draft may be incomplete; submitting checks the required answers (the service says which).
        for name in ("problem", "business_outcome", "why_ai"):
            self.fields[name].required = False
        for name in ("business_owner_candidate", "technical_owner_candidate"):
            if name in self.fields:
                label = self.fields[name].label
                self.fields[name] = UserChoiceField(queryset=_user_choices(), required=False, label=label)
        if "annex_iii_area" in self.fields:
            # The area starts blank: a pre-selected area would be an answer nobody gave. "None of
            # these" is what an unticked Annex III question means, not a choice in the list.
            field = self.fields["annex_iii_area"]
            assert isinstance(field, forms.ChoiceField)  # a model field with choices
            field.choices = [("", "Choose the area"), *AnnexIIIArea.choices]
            field.required = False
            if self.instance.annex_iii_area == AnnexIIIArea.NONE and not self.is_bound:
                self.initial["annex_iii_area"] = ""

    def answers(self) -> dict[str, Any]:
        answers = {name: self.cleaned_data[name] for name in ANSWER_FIELDS if name in self.cleaned_data}
        if "annex_iii_area" in answers and not answers["annex_iii_area"]:
            answers["annex_iii_area"] = AnnexIIIArea.NONE
        return answers

    def mark_invalid_fields(self) -> None:
        mark_invalid_fields(self)


class StepForm(UseCaseRequestForm):
    """One step of the guided form: only that step's questions, and only the sections that apply."""

    def __init__(self, *args: Any, step: Step, strict: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.step = step
        values = values_of(self.instance)
        if self.is_bound:
            for name in step.controls:
                values[name] = self[name].value()
        self.sections = active_sections(step, values)
        keep = {n for sec in self.sections for n in sec.fields}
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        if "business_outcome" in self.fields:
            # The guided form asks for the KPI and its baseline separately.
            self.fields["business_outcome"].label = "Business outcome"
        for name, field in self.fields.items():
            field.help_text = HELP.get(name, field.help_text)
            field.required = strict and any(name in sec.required for sec in self.sections)
        if "annex_iii_area" in self.fields:
            # Here the area is asked only once Annex III is ticked, so "none of these" is no answer.
            area = self.fields["annex_iii_area"]
            # A model field with choices: Django hands them over as a list of (value, label) pairs.
            assert isinstance(area, forms.ChoiceField) and isinstance(area.choices, list)
            area.choices = [c for c in area.choices if c[0] != AnnexIIIArea.NONE]

    def section_fields(self) -> list[tuple[Section, list[Any]]]:
        return [(sec, [self[n] for n in sec.fields]) for sec in self.sections]

    def answers(self) -> dict[str, Any]:
        answers = super().answers()
        if "touches_annex_iii" in answers and not answers["touches_annex_iii"]:
            # The Annex III area counts for tiering only while the requester says the use touches it.
            answers["annex_iii_area"] = AnnexIIIArea.NONE
            answers["annex_iii_details"] = ""
        return answers


def _user_choices() -> QuerySet[User]:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class UserChoiceField(forms.ModelChoiceField[User]):
    def label_from_instance(self, obj: User) -> str:
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
            assert isinstance(field, forms.ModelChoiceField)  # the three UserChoiceFields above
            field.queryset = _user_choices()


class CreateSystemForm(forms.Form):
    slug = forms.SlugField(max_length=80, label="Slug", help_text="The stable key CI uses at the gate, e.g. support-copilot.")
    name = forms.CharField(max_length=200, required=False, label="Name", help_text="Defaults to the request title.")


class _AccessibleForm(forms.Form):
    def mark_invalid_fields(self) -> None:
        mark_invalid_fields(self)


class CommentForm(_AccessibleForm):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Comment",
                           help_text="Markdown: **bold**, lists, links, `code`. Raw HTML is removed.")
    kind = forms.ChoiceField(choices=[("comment", "Comment"), ("question", "Question for the requester")],
                             required=False, label="Kind")


class AttachmentForm(_AccessibleForm):
    file = forms.FileField(label="File", help_text="PDF, images, text, CSV, Word or Excel; the size limit is shown below.")
