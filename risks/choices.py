from __future__ import annotations

from django.db import models


class Treatment(models.TextChoices):
    MITIGATE = "mitigate", "Mitigate"
    ACCEPT = "accept", "Accept"
    TRANSFER = "transfer", "Transfer"
    AVOID = "avoid", "Avoid"


class AcceptanceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LAPSED = "lapsed", "Lapsed"  # the risk's scores or treatment changed after it was given
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"  # its expiry passed (marked by the periodic task risks.expire_acceptances)
