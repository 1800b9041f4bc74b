from __future__ import annotations

from typing import Any

from django import forms

from governance.choices import REVIEW_DECISIONS, ReviewStatus
from governance.review_policy import review_kinds


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
        self.fields["kinds"].choices = [(k, c.label) for k, c in review_kinds().items()]


class DecisionRecordForm(forms.Form):
    title = forms.CharField(max_length=200)
    context = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Markdown.")
    options = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Options considered")
    decision = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    consequences = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class DecisionProposeForm(DecisionRecordForm):
    """A new record may name the accepted record it supersedes and the request it answers."""

    supersedes = forms.ModelChoiceField(queryset=None, required=False, label="Supersedes",
                                        help_text="An accepted record of this system that this one replaces.")
    request = forms.ModelChoiceField(queryset=None, required=False, label="Request")

    def __init__(self, *args: Any, system: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from governance.models import DecisionRecord
        from intake.models import UseCaseRequest

        self.fields["supersedes"].queryset = DecisionRecord.objects.filter(system=system, status="accepted")
        self.fields["request"].queryset = UseCaseRequest.objects.filter(system=system)
