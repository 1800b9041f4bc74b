"""Governance forms: review decisions, opening reviews, decision records and waiver requests."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms

from governance.choices import REVIEW_DECISIONS, ReviewStatus
from governance.models import DecisionRecord
from governance.policy.reviews import review_kinds
from governance.services.waivers import max_waiver_days
from intake.models import UseCaseRequest


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[(d, ReviewStatus(d).label) for d in REVIEW_DECISIONS], widget=forms.RadioSelect, label="Decision"
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Rationale",
                                help_text="What you checked and why you decided so; the requester sees it.")
    conditions = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Conditions",
                                 help_text="For an approval: what must hold for it to stand.")
    expires_at = forms.DateTimeField(required=False, label="Approval expires",
                                     widget=forms.DateInput(attrs={"type": "date"}),
                                     help_text="Defaults to one year for approvals.")


class OpenReviewsForm(forms.Form):
    kinds = forms.MultipleChoiceField(choices=[], widget=forms.CheckboxSelectMultiple, label="Reviews")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = self.fields["kinds"]
        assert isinstance(kinds, forms.MultipleChoiceField)
        kinds.choices = [(k, c.label) for k, c in review_kinds().items()]


class DecisionRecordForm(forms.Form):
    title = forms.CharField(max_length=200)
    context = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Markdown.")
    options = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Options considered")
    decision = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    consequences = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class DecisionProposeForm(DecisionRecordForm):
    """A new record may name the accepted record it supersedes and the request it answers."""

    supersedes = forms.ModelChoiceField[DecisionRecord](queryset=None, required=False, label="Supersedes",
                                        help_text="An accepted record of this system that this one replaces.")
    request = forms.ModelChoiceField[UseCaseRequest](queryset=None, required=False, label="Request")

    def __init__(self, *args: Any, system: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        supersedes, request = self.fields["supersedes"], self.fields["request"]
        assert isinstance(supersedes, forms.ModelChoiceField) and isinstance(request, forms.ModelChoiceField)
        supersedes.queryset = DecisionRecord.objects.filter(system=system, status="accepted")
        request.queryset = UseCaseRequest.objects.filter(system=system)


class WaiverRequestForm(forms.Form):
    requirement = forms.ChoiceField(help_text="The one requirement to waive, for this system only.")
    valid_until = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}),
                                  help_text="The waiver ends at 23:59 UTC that day.")
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=5000,
                                    help_text="Why the exception is acceptable, and what compensates for it.")

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        requirement = self.fields["requirement"]
        assert isinstance(requirement, forms.ChoiceField)
        requirement.choices = choices
        self.fields["valid_until"].help_text += f" At most {max_waiver_days()} days from today."

    def expires_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["valid_until"], time(23, 59), tzinfo=UTC)


class AuditFilterForm(forms.Form):
    """The audit trail's filters: who, what happened, to which object, and when (dates inclusive).

    The choices of actions and kinds of object are the ones present in the trail, passed in by the view,
    so a stale or made-up value is refused with the field's label rather than silently matching nothing."""

    actor = forms.CharField(label="Who", required=False, max_length=150,
                            help_text="A username or first or last name; “system” for automatic events.")
    action = forms.ChoiceField(label="What happened", required=False)
    object_type = forms.ChoiceField(label="Kind of object", required=False)
    object = forms.CharField(label="Object id or slug", required=False, max_length=64)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actions: list[tuple[str, str]], object_types: list[tuple[str, str]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any"), *actions]  # type: ignore[attr-defined]
        self.fields["object_type"].choices = [("", "Any"), *object_types]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "To must not be before From.")
        wanted = (data.get("object") or "").strip()
        data["object"] = wanted
        if wanted and not data.get("object_type") and "object_type" not in self.errors:
            self.add_error("object_type", "Kind of object: choose one to look up an object by id or slug.")
        elif wanted and data.get("object_type") and data["object_type"] != "catalog.aisystem" and not wanted.isdigit():
            self.add_error("object", "Object id or slug: this kind of object is found by its number.")
        return data
