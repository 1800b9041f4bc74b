"""The webhook signature scheme (docs/webhooks.md says it for receivers).

``Clearance-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256, keyed with the
webhook's secret (its UTF-8 bytes), over the ASCII timestamp, a full stop, and the exact body bytes.
The timestamp is inside what is signed, so a captured request cannot be replayed later with a fresh
one; receivers refuse a timestamp outside their window. Each attempt is signed anew (a new ``t``);
the delivery id header stays the same across attempts, for deduplication.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Clearance-Signature"
SCHEME = "v1"
# Receivers should refuse a signature older or newer than this (seconds); docs/webhooks.md explains.
DEFAULT_TOLERANCE = 300


def generate_secret() -> str:
    """A new signing secret: 32 random bytes, URL-safe, with a prefix that says what it is."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},{SCHEME}={signature(secret, moment, body)}"


class SignatureInvalid(ValueError):
    pass


def verify(secret: str, header: str, body: bytes, *, tolerance: int = DEFAULT_TOLERANCE,
           now: float | None = None) -> int:
    """Check a signature header against the body as a receiver does; returns its timestamp.
    Several ``v1`` values may appear (a receiver mid-rotation): one matching is enough."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("the header has no timestamp or no v1 signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureInvalid(f"the timestamp is {abs(current - timestamp):.0f} s away, outside the window")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureInvalid("no signature matches")
    return timestamp
