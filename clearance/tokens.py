"""API tokens: ``clr_<key id>_<secret>``, shown once, stored as an HMAC-SHA256 digest.

The digest is keyed by a server-side pepper (settings.TOKEN_PEPPER), so a leaked database alone
cannot be used to check guesses. Lookup is by the public key id; the digest is compared in constant
time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions, throttling

from clearance.audit import audit_record
from clearance.errors import DomainError
from clearance.models import ApiToken

log = logging.getLogger("clearance.throttle")

PREFIX = "clr_"
KEY_ID_LENGTH = 12


class Scope:
    GATE_CHECK = "gate:check"
    READ = "read"
    WRITE = "write"

    ALL = (GATE_CHECK, READ, WRITE)
    # Provisioning by SCIM (provisioning/): issued only to an identity provider's service user by
    # provisioning.services, never offered on the tokens page.
    SCIM = "scim"
    SERVICE = (SCIM,)


def token_digest(token: str) -> str:
    return hmac.new(settings.TOKEN_PEPPER.encode(), token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


MAX_RATE_PER_MINUTE = 100_000


def api_token_create(
    *, user: User, name: str, scopes: list[str], expires_at: datetime | None = None, actor: User | None = None,
    systems: list[str] | None = None, rate_per_minute: int | None = None, service: bool = False,
) -> IssuedToken:
    """Issue a token for ``user``; the plaintext is returned once and never stored.

    ``systems`` restricts it to those system slugs (each must be one the user may see);
    ``rate_per_minute`` overrides the default rate limit for it. ``service`` allows the service scopes
    (``Scope.SERVICE``), which only the services that create service users pass.
    """
    known = Scope.ALL + Scope.SERVICE if service else Scope.ALL
    unknown = sorted(set(scopes) - set(known))
    if unknown:
        raise DomainError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(known)}", field="scopes")
    if not scopes:
        raise DomainError("at least one scope is required", field="scopes")
    if not name.strip():
        raise DomainError("a token needs a name", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("the expiry must be in the future", field="expires_at")
    slugs = sorted({s.strip() for s in (systems or []) if s.strip()})
    if slugs:
        visible = set(apps.get_model("catalog", "AISystem").objects.visible_to(user)
                      .filter(slug__in=slugs).values_list("slug", flat=True))
        unknown_systems = [s for s in slugs if s not in visible]
        if unknown_systems:
            raise DomainError(f"unknown system(s) (or not visible to {user.get_username()}): "
                              f"{', '.join(unknown_systems)}", field="systems")
    if rate_per_minute is not None and not 1 <= rate_per_minute <= MAX_RATE_PER_MINUTE:
        raise DomainError(f"the rate limit must be between 1 and {MAX_RATE_PER_MINUTE} per minute",
                          field="rate_per_minute")
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    plaintext = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip(),
            key_id=key_id,
            digest=token_digest(plaintext),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
            system_slugs=slugs,
            rate_per_minute=rate_per_minute,
        )
        audit_record(
            actor=actor or user,
            action="api_token.created",
            obj=token,
            data={"user": user.get_username(), "scopes": token.scopes, "expires_at": expires_at,
                  "systems": slugs, "rate_per_minute": rate_per_minute},
        )
    return IssuedToken(token=token, plaintext=plaintext)


def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
        if updated:
            audit_record(actor=actor, action="api_token.revoked", obj=token)
    gate_token_cache.clear()  # this process at once; the others within GATE_TOKEN_CACHE_SECONDS
    token.refresh_from_db()
    return token


def _clock() -> float:
    return time.time()


class ThrottleCacheHealth:
    """Whether the shared throttle cache answers, per process. After a failure the throttle counts
    in this process's memory for ``THROTTLE_CACHE_RETRY_SECONDS`` (so a cache that hangs costs one
    socket timeout, not one per call), then tries the shared cache again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.degraded = 0  # gate calls counted per process because the shared cache was unavailable
        self.failures = 0  # attempts on the shared cache that failed

    def usable(self, now: float) -> bool:
        return now >= self.down_until

    def failed(self, exc: Exception, now: float) -> None:
        with self.lock:
            self.failures += 1
            self.down_until = now + settings.THROTTLE_CACHE_RETRY_SECONDS
            failures = self.failures
        log.warning("throttle cache unavailable (%s: %s); rate limits are counted per process for %ss "
                    "(failure %d in this process)", type(exc).__name__, exc, settings.THROTTLE_CACHE_RETRY_SECONDS,
                    failures)

    def reset(self) -> None:
        with self.lock:
            self.down_until, self.degraded, self.failures = 0.0, 0, 0

    def count_degraded(self) -> int:
        with self.lock:
            self.degraded += 1
            return self.degraded


throttle_cache_health = ThrottleCacheHealth()

THROTTLE_DEGRADED_WARNING = ("the shared rate-limit cache is unavailable: this call was rate-limited per server "
                             "process instead")


class TokenRateThrottle(throttling.BaseThrottle):
    """Requests per token (per user for a browser session, per address otherwise) in fixed windows,
    counted with an atomic increment in the shared ``throttle`` cache so the limit holds across
    gunicorn workers and hosts. O(1) per request whatever the rate (DRF's SimpleRateThrottle keeps
    and rewrites a list of every request in the window).

    The limit protects the service; it decides nothing about a deploy. So when the shared cache is
    down the gate keeps answering, counted in the process's own memory, with a warning in the log
    and in the answer, and a count of how often that happened."""

    scope = "gate"
    # The setting holding the default rate (a token's own rate_per_minute wins over it).
    rate_setting = "GATE_RATE_LIMIT"
    PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def __init__(self) -> None:
        self.cache = caches["throttle"]
        self._wait: float | None = None

    @classmethod
    def parse(cls, rate: str) -> tuple[int, int]:
        number, _, period = rate.partition("/")
        return int(number), cls.PERIODS[period.strip()[:1]]

    def ident(self, request: Any) -> str:
        if isinstance(request.auth, ApiToken):
            return f"token:{request.auth.key_id}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"addr:{self.get_ident(request)}"

    @staticmethod
    def _increment(cache: Any, key: str, window: int) -> int:
        cache.add(key, 0, timeout=window + 5)
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window + 5)
            return 1

    def _count(self, request: Any, key: str, window: int) -> int:
        health = throttle_cache_health
        if health.usable(time.monotonic()):
            try:
                return self._increment(self.cache, key, window)
            except Exception as exc:  # any backend error (refused, timed out, disk full) degrades alike
                health.failed(exc, time.monotonic())
        health.count_degraded()
        request.throttle_degraded = True
        return self._increment(caches["default"], key, window)

    def allow_request(self, request: Any, view: Any) -> bool:
        limit, window = self.parse(str(getattr(settings, self.rate_setting)))
        if isinstance(request.auth, ApiToken) and request.auth.rate_per_minute:
            limit, window = request.auth.rate_per_minute, 60
        now = _clock()
        bucket = int(now // window)
        key = f"throttle:{self.scope}:{self.ident(request)}:{window}:{bucket}"
        count = self._count(request, key, window)
        if count > limit:
            self._wait = (bucket + 1) * window - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


def resolve_token(plaintext: str) -> ApiToken | None:
    """The live token for this plaintext, or None (malformed, unknown, wrong secret, expired, revoked)."""
    token, _ = resolve_token_why(plaintext)
    return token


def resolve_token_why(plaintext: str) -> tuple[ApiToken | None, str]:
    """The live token, or None and why. Expiry and revocation are told only to a caller who holds the
    right secret; anything else reads "not a valid token", so guesses learn nothing."""
    invalid = "the token is not valid (check for a typo or a truncated value)"
    if not plaintext.startswith(PREFIX) or len(plaintext) < len(PREFIX) + KEY_ID_LENGTH + 2:
        return None, invalid
    key_id = plaintext[len(PREFIX) : len(PREFIX) + KEY_ID_LENGTH]
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    expected = token.digest if token else token_digest("decoy")
    # Compare even when the key id is unknown, so timing does not tell which key ids exist.
    matches = hmac.compare_digest(expected, token_digest(plaintext))
    if token is None or not matches:
        return None, invalid
    now = timezone.now()
    if token.revoked_at is not None:
        return None, f"the token '{token.name}' was revoked on {token.revoked_at:%Y-%m-%d}"
    if token.expires_at is not None and token.expires_at <= now:
        return None, f"the token '{token.name}' expired on {token.expires_at:%Y-%m-%d}"
    if not token.user.is_active:
        return None, "the token's user is deactivated"
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        # Throttled so the gate's hot path does not write on every call.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token, ""


class BadTokenLimiter:
    """Invalid bearer tokens per client address, in fixed windows of ``BAD_TOKEN_WINDOW_SECONDS``
    counted in the shared ``throttle`` cache. Past ``BAD_TOKEN_LIMIT`` in a window, an invalid token
    answers 429 with Retry-After (the end of the window) instead of 401.

    Only invalid tokens are counted and only they are refused: a valid token is checked exactly as
    before and costs no cache call, so a CI runner sharing an address (a NAT) with a misconfigured
    job keeps working. A token holds 256 random bits, so the limit is about load and noise in the
    log, not about making a guess feasible. When the cache is down nothing is counted and a bad token
    gets its 401 as usual (the gate throttle's health tracking says when to try the cache again)."""

    scope = "bad-token"

    def __init__(self) -> None:
        self.cache = caches["throttle"]

    def key(self, address: str, window: int, bucket: int) -> str:
        return f"throttle:{self.scope}:{address}:{window}:{bucket}"

    def forget(self, address: str) -> None:
        """Drop the current window's count for an address (tests, or an operator who fixed a job)."""
        window = int(settings.BAD_TOKEN_WINDOW_SECONDS)
        self.cache.delete(self.key(address, window, int(_clock() // window)))

    def failed(self, request: Any) -> float | None:
        """Count one invalid token from the request's address; the seconds to wait when over the limit."""
        from clearance.signin import client_address

        health = throttle_cache_health
        if not health.usable(time.monotonic()):
            return None
        limit, window = int(settings.BAD_TOKEN_LIMIT), int(settings.BAD_TOKEN_WINDOW_SECONDS)
        now = _clock()
        bucket = int(now // window)
        address = client_address(request) or "unknown"
        try:
            count = TokenRateThrottle._increment(self.cache, self.key(address, window, bucket), window)
        except Exception as exc:  # refused, timed out, disk full: answer 401 as if no limit existed
            health.failed(exc, time.monotonic())
            return None
        if count == limit + 1:
            log.warning("invalid bearer tokens from %s passed %d in %ss; answering 429 until the window ends",
                        address, limit, window)
        if count > limit:
            return max(1.0, (bucket + 1) * window - now)
        return None


class TokenCache:
    """Tokens the gate resolved lately, per process, keyed by the keyed digest of the presented
    plaintext (so only the exact secret hits), each for ``GATE_TOKEN_CACHE_SECONDS``. Only live
    tokens are kept; expiry is checked again on every hit. What a hit does not see is a change made
    elsewhere meanwhile (revocation, deactivation, roles): that takes effect within the window."""

    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[float, ApiToken]] = {}

    def resolve(self, plaintext: str) -> tuple[ApiToken | None, str]:
        ttl = settings.GATE_TOKEN_CACHE_SECONDS
        if ttl <= 0:
            return resolve_token_why(plaintext)
        key = token_digest(plaintext)
        with self.lock:
            hit = self.entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            cached = hit[1]
            if cached.expires_at is None or cached.expires_at > timezone.now():
                return cached, ""
        token, why = resolve_token_why(plaintext)
        with self.lock:
            if token is None:
                self.entries.pop(key, None)
            else:
                if len(self.entries) >= self.MAX_ENTRIES:
                    self.entries.clear()
                self.entries[key] = (time.monotonic() + ttl, token)
        return token, why

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


gate_token_cache = TokenCache()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer clr_…``; answers 401 with a JSON body for a bad token, and 429 with
    Retry-After once one address has sent too many bad ones (``BadTokenLimiter``)."""

    keyword = "Bearer"

    def __init__(self, *, cached: bool = False) -> None:
        # cached=True (the gate's view): resolve through the per-process ``gate_token_cache``, one
        # query per token and process every GATE_TOKEN_CACHE_SECONDS instead of one per call. The
        # same class either way, so the OpenAPI has one bearer scheme.
        self.cached = cached

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("the Authorization header must be 'Bearer <token>'")
        token, why = self.resolve(parts[1])
        if token is None:
            wait = BadTokenLimiter().failed(request)
            if wait is not None:
                raise exceptions.Throttled(wait=wait, detail="too many invalid tokens from this address")
            raise exceptions.AuthenticationFailed(why)
        return token.user, token

    def resolve(self, plaintext: str) -> tuple[ApiToken | None, str]:
        return gate_token_cache.resolve(plaintext) if self.cached else resolve_token_why(plaintext)

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="clearance"'
