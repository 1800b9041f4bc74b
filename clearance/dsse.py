"""DSSE envelopes (Dead Simple Signing Envelope, secure-systems-lab/dsse v1) signed with Ed25519, and
the public keys that verify them.

The gate signs its attestations this way (``governance/api/attestation.py``); the format is described
for third parties in docs/attestations.md and verified offline by ``clearance-check verify``, which
carries its own copy of the encoding because it must stay one stdlib-only file.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from clearance.keyring import key_fingerprint, public_key_raw

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
KEY_ALGORITHM = "ed25519"


def pae(payload_type: str, body: bytes) -> bytes:
    """The pre-authentication encoding that is signed: ``DSSEv1 <len> <type> <len> <body>``, lengths
    in bytes as ASCII decimals. Signing this rather than the bare body binds the type to the bytes,
    so a signed statement cannot be replayed as another kind of message."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def sign_envelope(body: bytes, *, payload_type: str = IN_TOTO_PAYLOAD_TYPE,
                  key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """The JSON envelope of ``body`` with one signature by ``key`` (default: GATE_SIGNING_KEY); its
    ``keyid`` is the key's fingerprint, which a verifier can recompute from the public key."""
    signer: Ed25519PrivateKey = settings.GATE_SIGNING_KEY if key is None else key
    signature = signer.sign(pae(payload_type, body))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(body).decode("ascii"),
        "signatures": [{"keyid": key_fingerprint(signer.public_key()),
                        "sig": base64.b64encode(signature).decode("ascii")}],
    }


def published_key(key_id: str, public: Ed25519PublicKey, *, current: bool) -> dict[str, Any]:
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "keyid": key_id,
        "algorithm": KEY_ALGORITHM,
        "publicKey": base64.b64encode(public_key_raw(public)).decode("ascii"),
        "publicKeyPem": pem.decode("ascii"),
        "status": "current" if current else "retired",
    }


def gate_key_set() -> dict[str, Any]:
    """Every key gate attestations may be signed with: the current one and the retired ones that are
    still listed in GATE_PUBLIC_KEYS (so what they signed keeps verifying). Public halves only."""
    signing: Ed25519PrivateKey = settings.GATE_SIGNING_KEY
    current = key_fingerprint(signing.public_key())
    keys: dict[str, Ed25519PublicKey] = settings.GATE_PUBLIC_KEYS
    ordered = sorted(keys.items(), key=lambda item: (item[0] != current, item[0]))
    return {
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "keys": [published_key(key_id, public, current=key_id == current) for key_id, public in ordered],
    }
