"""Forms for a system's settings and evaluation target."""

from __future__ import annotations

from django import forms

from catalog.models import AISystem


class SystemSettingsForm(forms.ModelForm[AISystem]):
    repo_url = forms.URLField(required=False, assume_scheme="https", label="Repository")
    runbook_url = forms.URLField(required=False, assume_scheme="https", label="Runbook")
    dashboard_url = forms.URLField(required=False, assume_scheme="https", label="Dashboard")

    class Meta:
        model = AISystem
        fields = ["name", "purpose", "vendor", "model_name", "model_version", "repo_url", "runbook_url", "dashboard_url"]
        widgets = {"purpose": forms.Textarea(attrs={"rows": 3})}


class EvaluationTargetForm(forms.Form):
    primary_metric = forms.CharField(max_length=100, label="Primary metric", help_text="e.g. exact_match or pass_rate")
    metric_threshold = forms.FloatField(label="Threshold")
    metric_higher_is_better = forms.BooleanField(required=False, initial=True, label="Higher is better")
