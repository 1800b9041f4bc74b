"""The audit trail's secrets, read from the environment: HMAC keys by id and the checkpoint signing key.

The database holds none of them. Event hashes are HMAC-SHA256 under a key named by an id that each
event stores, so keys can rotate: new events use ``AUDIT_KEY_ID`` and older ids stay listed for
verification. Checkpoints of the chain's head are signed with Ed25519. In the embedded mode both
are derived from ``SECRET_KEY`` (itself random, kept in the var directory); ``check --deploy``
refuses a deployment that relies on the derived ones (``clearance/checks.py``).

Settings imports this module, so it must not import models.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

KEY_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
MIN_SECRET_CHARS = 32
DERIVED_KEY_ID = "derived"


@dataclass(frozen=True)
class AuditKeys:
    current_id: str
    keys: dict[str, bytes]
    derived: bool


def _check_id(key_id: str, variable: str) -> str:
    if not KEY_ID_RE.match(key_id):
        raise ImproperlyConfigured(
            f"{variable}: key id {key_id!r} must be 1 to 32 letters, digits, '.', '_' or '-'"
        )
    return key_id


def _check_secret(secret: str, variable: str, key_id: str) -> bytes:
    if len(secret) < MIN_SECRET_CHARS:
        raise ImproperlyConfigured(
            f"{variable}: the secret of key {key_id!r} must be at least {MIN_SECRET_CHARS} characters"
        )
    return secret.encode("utf-8")


def audit_keys(*, key: str, key_id: str, keys: str, secret_key: str) -> AuditKeys:
    """Build the HMAC key ring from ``AUDIT_KEY``, ``AUDIT_KEY_ID`` and ``AUDIT_KEYS`` ("id=secret,...")."""
    ring: dict[str, bytes] = {}
    for item in (part.strip() for part in keys.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition("=")
        if not sep:
            raise ImproperlyConfigured("AUDIT_KEYS must be a comma-separated list of id=secret pairs")
        name = _check_id(name.strip(), "AUDIT_KEYS")
        if name in ring:
            raise ImproperlyConfigured(f"AUDIT_KEYS names key {name!r} twice")
        ring[name] = _check_secret(secret.strip(), "AUDIT_KEYS", name)
    if key:
        current = _check_id(key_id or "k1", "AUDIT_KEY_ID")
        current_secret = _check_secret(key, "AUDIT_KEY", current)
        if current in ring and ring[current] != current_secret:
            raise ImproperlyConfigured(f"AUDIT_KEY and AUDIT_KEYS give key {current!r} two different secrets")
        ring[current] = current_secret
        return AuditKeys(current, ring, derived=False)
    if ring:
        if not key_id:
            raise ImproperlyConfigured("AUDIT_KEY_ID must name the key of AUDIT_KEYS that signs new events")
        if key_id not in ring:
            raise ImproperlyConfigured(f"AUDIT_KEY_ID {key_id!r} is not one of the ids in AUDIT_KEYS")
        return AuditKeys(key_id, ring, derived=False)
    if key_id:
        raise ImproperlyConfigured("AUDIT_KEY_ID is set but neither AUDIT_KEY nor AUDIT_KEYS gives its secret")
    derived = hashlib.sha256(b"clearance-audit-hmac\x00" + secret_key.encode("utf-8")).digest()
    return AuditKeys(DERIVED_KEY_ID, {DERIVED_KEY_ID: derived}, derived=True)


def _b64(value: str, variable: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"{variable} is not valid base64") from exc


def ed25519_private_key(*, value: str, secret_key: str, variable: str, label: bytes) -> tuple[Ed25519PrivateKey, bool]:
    """An Ed25519 private key from a setting: a PEM (PKCS#8) or the base64 of its 32 raw bytes.

    With no value the key is derived from SECRET_KEY under ``label`` (embedded mode; each use has its
    own label, so two derived keys never coincide). Returns the key and whether it was derived."""
    if not value.strip():
        seed = hashlib.sha256(label + b"\x00" + secret_key.encode("utf-8")).digest()
        return Ed25519PrivateKey.from_private_bytes(seed), True
    if value.lstrip().startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_private_key(value.strip().encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise ImproperlyConfigured(f"{variable} is not a readable PEM private key: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ImproperlyConfigured(f"{variable} must be an Ed25519 key")
        return loaded, False
    raw = _b64(value, variable)
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{variable} must be 32 bytes of Ed25519 key (base64), got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw), False


def checkpoint_private_key(*, value: str, secret_key: str) -> tuple[Ed25519PrivateKey, bool]:
    """``AUDIT_CHECKPOINT_KEY``: a PEM (PKCS#8) Ed25519 private key or the base64 of its 32 raw bytes.

    Returns the key and whether it was derived from SECRET_KEY (no value given)."""
    return ed25519_private_key(value=value, secret_key=secret_key, variable="AUDIT_CHECKPOINT_KEY",
                               label=b"clearance-audit-checkpoint")


def secret_from_env_or_file(*, value: str, path: str, variable: str) -> str:
    """A secret given either inline (``VARIABLE``) or as a file (``VARIABLE_FILE``, e.g. a mounted
    Kubernetes or Docker secret), never both: two sources could silently disagree."""
    if value.strip() and path.strip():
        raise ImproperlyConfigured(f"set {variable} or {variable}_FILE, not both")
    if not path.strip():
        return value
    try:
        return Path(path.strip()).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"{variable}_FILE: cannot read {path.strip()!r}: {exc}") from exc


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key (written in each checkpoint line and used as the key id
    of gate attestations): anyone holding the public key can recompute it."""
    return hashlib.sha256(public_key_raw(key)).hexdigest()[:16]


def ed25519_public_keys(*, values: str, private: Ed25519PrivateKey, variable: str) -> dict[str, Ed25519PublicKey]:
    """The signing key's own public half, plus earlier keys' public halves (``variable``: base64 raw,
    comma-separated), by key id: what signatures made before a rotation are verified with."""
    own = private.public_key()
    found = {key_fingerprint(own): own}
    for item in (part.strip() for part in values.split(",")):
        if not item:
            continue
        raw = _b64(item, variable)
        if len(raw) != 32:
            raise ImproperlyConfigured(f"{variable}: each key must be 32 bytes (base64)")
        public = Ed25519PublicKey.from_public_bytes(raw)
        found[key_fingerprint(public)] = public
    return found


def checkpoint_public_keys(*, values: str, private: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    """The keys checkpoints are verified with: the signing key's own public half, plus
    ``AUDIT_CHECKPOINT_PUBLIC_KEYS`` (base64 raw, comma-separated) for lines signed by earlier keys."""
    return ed25519_public_keys(values=values, private=private, variable="AUDIT_CHECKPOINT_PUBLIC_KEYS")


def new_checkpoint_key() -> tuple[str, str]:
    """A fresh signing key as (private base64, public base64), for ``audit_checkpoint --generate-key``."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    return base64.b64encode(private).decode(), base64.b64encode(public_key_raw(key.public_key())).decode()
