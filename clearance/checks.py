"""Deployment checks (``manage.py check --deploy``) for the audit trail's and the gate's signing secrets.

The embedded mode derives the audit HMAC key and the checkpoint signing key from SECRET_KEY so the
demo needs nothing set; a deployment must give its own, kept apart from SECRET_KEY and the database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def audit_keys_are_set(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    if settings.AUDIT_KEY_DERIVED:
        errors.append(Error(
            "AUDIT_KEY is not set: the audit chain's HMAC key is derived from SECRET_KEY.",
            hint="Set AUDIT_KEY (a long random secret, not stored in the database) and AUDIT_KEY_ID.",
            id="clearance.E001",
        ))
    if settings.AUDIT_CHECKPOINT_KEY_DERIVED:
        errors.append(Error(
            "AUDIT_CHECKPOINT_KEY is not set: audit checkpoints are signed with a key derived from SECRET_KEY.",
            hint="Generate one with `manage.py audit_checkpoint --generate-key` and set AUDIT_CHECKPOINT_KEY.",
            id="clearance.E002",
        ))
    if settings.GATE_SIGNING_KEY_DERIVED:
        errors.append(Error(
            "GATE_SIGNING_KEY is not set: gate attestations are signed with a key derived from SECRET_KEY.",
            hint="Generate one with `manage.py gate_keys --generate` and set GATE_SIGNING_KEY or "
                 "GATE_SIGNING_KEY_FILE.",
            id="clearance.E003",
        ))
    return errors
