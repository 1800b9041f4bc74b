"""The SCIM discovery answers (RFC 7644 section 4): what this service provider supports, and the
absolute base of every ``location`` it returns."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django_scim.models import SCIMServiceProviderConfig


def base_location(request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> str:
    """Scheme and host of SITE_URL: the paths Django reverses already carry any script prefix."""
    parts = urlsplit(settings.SITE_URL)
    return f"{parts.scheme}://{parts.netloc}"


class ServiceProviderConfig(SCIMServiceProviderConfig):  # type: ignore[misc]  # django-scim2 ships no types
    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = super().to_dict()
        doc.update({
            "documentationUri": None,
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": settings.SCIM_MAX_RESULTS},
            # Passwords never come from the IdP: people it provisions sign in through it.
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
        })
        doc.pop("documentationUri")
        return doc

    @property
    def location(self) -> str:
        from django.urls import reverse

        return base_location(self.request) + reverse("scim-service-provider-config")
