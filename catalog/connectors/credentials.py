"""Source credentials at rest: Fernet-encrypted with EVIDENCE_SECRET_KEY (or a key derived from
SECRET_KEY), or only the name of an environment variable that holds them. Never shown back."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from catalog.connectors.base import SourceError


def _fernet() -> Fernet:
    key = settings.EVIDENCE_SECRET_KEY
    if not key:
        # Derived, not SECRET_KEY itself: a leaked ciphertext key must not sign sessions.
        key = base64.urlsafe_b64encode(hashlib.sha256(b"clearance-evidence-credentials:" + settings.SECRET_KEY.encode()).digest()).decode()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt_secret(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def resolve_secret(*, encrypted: str, env_name: str) -> str:
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise SourceError(f"the environment variable {env_name} that holds the credential is not set")
        return value
    if not encrypted:
        return ""
    try:
        return _fernet().decrypt(encrypted.encode()).decode()
    except InvalidToken as exc:
        raise SourceError("the stored credential cannot be decrypted (was EVIDENCE_SECRET_KEY changed?)") from exc
