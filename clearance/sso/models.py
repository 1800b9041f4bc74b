"""Who a signed-in IdP account is in Clearance."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SsoIdentity(models.Model):
    """An account at an identity provider, named by its issuer and subject (``iss``, ``sub``): the only
    pair OpenID Connect promises is stable and unique. Email and username may change at the IdP, or
    collide with an existing Clearance account; neither ever decides which user signs in."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    last_login_at = models.DateTimeField()

    class Meta:
        app_label = "clearance"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject")]
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
