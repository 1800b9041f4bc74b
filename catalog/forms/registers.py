"""Forms of the dataset and vendor registers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User

from catalog.models import AISystem, Dataset, Vendor


class _RegisterForm(forms.ModelForm[Dataset | Vendor]):
    systems = forms.ModelMultipleChoiceField(queryset=AISystem.objects.none(), required=False,
                                             widget=forms.CheckboxSelectMultiple, label="Used by systems")

    def __init__(self, *args: Any, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        systems, owner = self.fields["systems"], self.fields["owner"]
        assert isinstance(systems, forms.ModelChoiceField) and isinstance(owner, forms.ModelChoiceField)
        systems.queryset = AISystem.objects.visible_to(user).order_by("name")
        owner.queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        if self.instance.pk:
            self.initial["systems"] = list(self.instance.systems.values_list("pk", flat=True))


class DatasetForm(_RegisterForm):
    instance: Dataset

    class Meta:
        model = Dataset
        fields = ["name", "description", "source", "owner", "classification", "personal_data", "personal_data_notes",
                  "collection_method", "known_biases", "retention", "review_due"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "personal_data_notes": forms.Textarea(attrs={"rows": 2}),
            "collection_method": forms.Textarea(attrs={"rows": 2}),
            "known_biases": forms.Textarea(attrs={"rows": 2}),
            "review_due": forms.DateInput(attrs={"type": "date"}),
        }
        labels = {"personal_data_notes": "Which personal data", "review_due": "Review datasheet by"}


class VendorForm(_RegisterForm):
    instance: Vendor
    models_offered = forms.CharField(required=False, label="Models offered", help_text="Comma-separated.")

    class Meta:
        model = Vendor
        fields = ["name", "website", "terms_reviewed_on", "dpa_status", "data_residency", "models_offered", "notes",
                  "owner", "review_due"]
        widgets = {
            "terms_reviewed_on": forms.DateInput(attrs={"type": "date"}),
            "review_due": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"name": "Provider", "dpa_status": "DPA status", "terms_reviewed_on": "Terms reviewed on"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["models_offered"] = ", ".join(self.instance.models_offered)

    def clean_models_offered(self) -> list[str]:
        raw = self.cleaned_data.get("models_offered") or ""
        return [m.strip() for m in raw.split(",") if m.strip()]
