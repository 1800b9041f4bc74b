"""Incident register forms: report an incident, move it, classify it, record its report to the authority,
and the register's filters."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from catalog.models import AISystem
from risks.choices import HarmCategory, IncidentSeverity, IncidentStatus
from risks.models import Risk
from risks.reporting import rules
from risks.services.incidents import LABELS, IncidentInput

MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _fact_choices() -> list[tuple[str, str]]:
    return [(f.id, f"{f.label} ({f.ref})") for f in rules().facts]


class IncidentForm(forms.Form):
    systems = forms.ModelMultipleChoiceField(queryset=AISystem.objects.none(), label=LABELS["systems"],
                                             help_text="The system or systems involved.")
    title = forms.CharField(max_length=200, label=LABELS["title"])
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=20_000,
                                  label=LABELS["description"],
                                  help_text="What happened, to whom, and what was done so far.")
    model_version = forms.CharField(max_length=100, required=False, label=LABELS["model_version"])
    severity = forms.ChoiceField(choices=IncidentSeverity.choices, label=LABELS["severity"])
    harm_categories = forms.MultipleChoiceField(choices=HarmCategory.choices, required=False,
                                                widget=forms.CheckboxSelectMultiple, label=LABELS["harm_categories"])
    people_affected = forms.IntegerField(min_value=0, max_value=1_000_000_000, required=False,
                                         label=LABELS["people_affected"])
    started_at = forms.DateTimeField(widget=MOMENT, required=False, label=LABELS["started_at"],
                                     help_text="When it began, if known (UTC).")
    detected_at = forms.DateTimeField(widget=MOMENT, label=LABELS["detected_at"], help_text="UTC.")
    aware_at = forms.DateTimeField(
        widget=MOMENT, label=LABELS["aware_at"],
        help_text="When the organisation became aware of it (UTC); the EU AI Act's reporting deadlines count "
                  "from here.")
    serious_facts = forms.MultipleChoiceField(
        choices=_fact_choices, required=False, widget=forms.CheckboxSelectMultiple, label=LABELS["serious_facts"],
        help_text="Tick what holds. Any of the harms makes it a serious incident, whose report to the market "
                  "surveillance authority has a deadline.")
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
                                   required=False, label=LABELS["owner"],
                                   help_text="Blank: the first system's technical owner.")
    risks = forms.ModelMultipleChoiceField(queryset=Risk.objects.none(), required=False, label=LABELS["risks"])

    def __init__(self, *args: Any, systems: Any, risks: Any, risk_choices: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["systems"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = systems
        linked = self.fields["risks"]
        assert isinstance(linked, forms.ModelMultipleChoiceField)
        # Posted ids are checked against every risk the user sees; the choices offered are those of
        # the system the form was opened for, so the page never lists a whole portfolio of risks.
        linked.queryset = risks
        if risk_choices is not None and not self.is_bound:
            linked.choices = [(r.pk, r.title) for r in risk_choices]
        if not self.is_bound and risk_choices is None:
            del self.fields["risks"]

    def incident_input(self) -> IncidentInput:
        data = self.cleaned_data
        return IncidentInput(
            title=data["title"], description=data["description"], severity=data["severity"],
            detected_at=data["detected_at"], aware_at=data["aware_at"], started_at=data["started_at"],
            harm_categories=list(data["harm_categories"]), people_affected=data["people_affected"],
            serious_facts=list(data["serious_facts"]), model_version=data["model_version"], owner=data["owner"],
        )


class MoveForm(forms.Form):
    to = forms.ChoiceField(choices=IncidentStatus.choices)
    expected = forms.ChoiceField(choices=IncidentStatus.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000,
                           label=LABELS["note"])


class ClassifyForm(forms.Form):
    severity = forms.ChoiceField(choices=IncidentSeverity.choices, label=LABELS["severity"])
    serious_facts = forms.MultipleChoiceField(choices=_fact_choices, required=False,
                                              widget=forms.CheckboxSelectMultiple, label=LABELS["serious_facts"])
    aware_at = forms.DateTimeField(widget=MOMENT, label=LABELS["aware_at"], help_text="UTC.")


class ReportForm(forms.Form):
    complete = forms.TypedChoiceField(
        choices=[("0", "Initial report (not yet complete)"), ("1", "Complete report")], coerce=lambda v: v == "1",
        label="Report", widget=forms.RadioSelect)
    sent_at = forms.DateTimeField(widget=MOMENT, label=LABELS["sent_at"], help_text="UTC.")
    reference = forms.CharField(max_length=200, required=False, label=LABELS["reference"])


OVERDUE_CHOICES = [("", "Any"), ("yes", "Report overdue")]
STATUS_CHOICES = [("open", "Open (not closed)"), ("", "Any"), *IncidentStatus.choices]


class IncidentFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Status")
    system = forms.ChoiceField(choices=[], required=False, label="System")
    severity = forms.ChoiceField(choices=[("", "Any"), *IncidentSeverity.choices], required=False, label="Severity")
    overdue = forms.ChoiceField(choices=OVERDUE_CHOICES, required=False, label="Deadline")

    def __init__(self, *args: Any, systems: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["system"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Any"), *systems]
