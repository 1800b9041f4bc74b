"""Webhook forms. The services validate again (URL rules, event kinds, secret length); these only
shape the input and label it."""

from __future__ import annotations

from typing import Any

from django import forms

from integrations.choices import SUBSCRIBABLE, DeliveryStatus, WebhookFormat

LABELS = {
    "name": "Name",
    "url": "Destination URL",
    "format": "Message format",
    "events": "Events",
    "active": "Active",
    "secret_source": "Signing secret",
    "secret": "Secret",
    "secret_env": "Environment variable",
}


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100, label=LABELS["name"])
    url = forms.CharField(
        max_length=1000, label=LABELS["url"],
        help_text="https:// URL that receives a POST per event. Internal addresses are refused unless the "
                  "administrator lists the host in WEBHOOK_ALLOWED_HOSTS.",
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
    )
    format = forms.ChoiceField(choices=WebhookFormat.choices, label=LABELS["format"])
    events = forms.MultipleChoiceField(
        choices=[(kind.value, kind.label) for kind in SUBSCRIBABLE], widget=forms.CheckboxSelectMultiple,
        label=LABELS["events"])
    active = forms.BooleanField(required=False, initial=True, label=LABELS["active"],
                                help_text="Switched off, it is sent nothing.")


SECRET_SOURCES = [
    ("generate", "Generate one now (shown once after saving)"),
    ("enter", "Enter my own"),
    ("env", "Read it from an environment variable of the server"),
]


class WebhookCreateForm(WebhookForm):
    secret_source = forms.ChoiceField(choices=SECRET_SOURCES, initial="generate", widget=forms.RadioSelect,
                                      label=LABELS["secret_source"])
    secret = forms.CharField(required=False, label=LABELS["secret"], strip=True,
                             widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                             help_text="At least 24 characters. Never shown again after saving.")
    secret_env = forms.CharField(required=False, max_length=100, label=LABELS["secret_env"],
                                 help_text="The name of the variable, e.g. CLEARANCE_WEBHOOK_SECRET_OPS.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = data.get("secret_source")
        if source == "enter" and not data.get("secret"):
            self.add_error("secret", "Enter the secret, or choose to generate one.")
        if source == "env" and not data.get("secret_env"):
            self.add_error("secret_env", "Name the environment variable that holds the secret.")
        return data

    def service_secret(self) -> dict[str, str]:
        source = self.cleaned_data.get("secret_source")
        return {"secret": self.cleaned_data.get("secret", "") if source == "enter" else "",
                "secret_env": self.cleaned_data.get("secret_env", "") if source == "env" else ""}


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *DeliveryStatus.choices], required=False,
                               label="Status")
