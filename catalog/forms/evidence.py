"""Forms of the evidence pipeline. Credentials are write-only: never rendered back."""

from __future__ import annotations

from typing import Any

from django import forms

from catalog.choices import SourceKind
from catalog.models import EvidenceSource


class EvidenceSourceForm(forms.ModelForm[EvidenceSource]):
    metrics = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The metrics that matter, one per line (or comma-separated); blank imports every metric.",
    )
    secret = forms.CharField(
        required=False, label="Credential (token or password)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the stored one.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored credential")

    class Meta:
        model = EvidenceSource
        fields = ["name", "kind", "location", "experiment", "run_filter", "metrics", "model_version_key",
                  "dataset_key", "default_model_version", "default_dataset", "tag_key", "default_currency", "auth_kind", "username",
                  "secret_env", "enabled", "interval_minutes"]
        labels = {
            "location": "URL or file path",
            "experiment": "MLflow experiment (name or id)",
            "run_filter": "MLflow run filter",
            "model_version_key": "Tag or parameter naming the model version",
            "dataset_key": "Tag or parameter naming the dataset",
            "default_model_version": "Model version when the result does not say",
            "default_dataset": "Dataset when the result does not say",
            "tag_key": "FOCUS tag that names the system",
            "default_currency": "Currency when the file has no BillingCurrency",
            "secret_env": "…or the environment variable holding it",
            "interval_minutes": "Sync every (minutes)",
        }
        help_texts = {
            "location": "MLflow: the tracking server URL. Files: an absolute path inside the allowed directory.",
            "run_filter": "e.g. tags.ai_system = 'support-copilot'",
            "tag_key": "e.g. ai_system: only rows whose Tags carry this system's slug; blank keeps every row.",
            "default_currency": "FOCUS: an ISO 4217 code such as USD for exports without the BillingCurrency column; "
                                "blank refuses such files.",
            "interval_minutes": "Blank: only when someone presses Sync now. At least 5.",
        }

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["kind"].disabled = True
        else:
            del self.fields["clear_secret"]
        if self.instance and self.instance.pk:
            self.initial["metrics"] = "\n".join(self.instance.metrics or [])
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)  # a model field with choices
        kind.choices = SourceKind.choices

    def clean_metrics(self) -> list[str]:
        raw = self.cleaned_data.get("metrics") or ""
        names = [m.strip() for chunk in raw.splitlines() for m in chunk.split(",") if m.strip()]
        if any(len(m) > 100 for m in names):
            raise forms.ValidationError("a metric name has at most 100 characters")
        return names

    def options(self) -> dict[str, Any]:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "kind"}
        return data


class MetricRequirementForm(forms.Form):
    metric = forms.CharField(max_length=100, help_text="As the source names it, e.g. acc or exact_match,strict-match")
    dataset = forms.CharField(max_length=200, required=False, help_text="Blank: a result on any dataset counts.")
    threshold = forms.FloatField()
    higher_is_better = forms.BooleanField(required=False, initial=True)
    max_age_days = forms.IntegerField(required=False, min_value=1, label="Maximum age (days)",
                                      help_text="Blank: the policy's window. Otherwise the stricter applies.")
    baseline_value = forms.FloatField(required=False, label="Baseline")
    max_regression = forms.FloatField(required=False, min_value=0, label="Allowed regression",
                                      help_text="How far past the baseline a result may fall.")
    require_version_match = forms.BooleanField(required=False, initial=True, label="Only results of the deployed model version")


class CostBudgetForm(forms.Form):
    monthly_amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, label="Budget per month")
    currency = forms.CharField(max_length=3, initial="USD")
