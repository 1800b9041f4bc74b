"""The identity provider's endpoints: explicit settings where given, else its discovery document.

The discovery document is fetched when first needed (never at start-up, so a provider that is down
does not stop Clearance from starting or from serving password sign-in) and kept in the process for
OIDC_DISCOVERY_CACHE_SECONDS. Its ``issuer`` must equal OIDC_ISSUER exactly (OpenID Connect
Discovery 1.0, section 4.3): a document that names another issuer is refused, not followed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings

log = logging.getLogger("clearance.sso")


class ProviderUnavailable(Exception):
    """The provider's configuration cannot be had right now (unreachable, or a bad document)."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    end_session_endpoint: str


_cache: dict[str, tuple[float, dict[str, object]]] = {}
_lock = threading.Lock()


def sso_enabled() -> bool:
    """SSO is configured: a client id and the issuer (needed for the issuer check even when every
    endpoint is set explicitly)."""
    return bool(settings.OIDC_RP_CLIENT_ID and settings.OIDC_ISSUER)


def discovery_url() -> str:
    return settings.OIDC_DISCOVERY_URL or f"{settings.OIDC_ISSUER}/.well-known/openid-configuration"


def _discovered() -> dict[str, object]:
    url = discovery_url()
    now = time.monotonic()
    with _lock:
        hit = _cache.get(url)
        if hit is not None and now - hit[0] < settings.OIDC_DISCOVERY_CACHE_SECONDS:
            return hit[1]
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID Connect discovery at %s failed: %s", url, exc)
        raise ProviderUnavailable(f"the identity provider's configuration at {url} cannot be read") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"the identity provider's configuration at {url} is not a JSON object")
    if settings.OIDC_ISSUER and document.get("issuer") != settings.OIDC_ISSUER:
        log.error("OpenID Connect discovery at %s names issuer %r, not the configured OIDC_ISSUER %r",
                  url, document.get("issuer"), settings.OIDC_ISSUER)
        raise ProviderUnavailable("the identity provider's configuration names another issuer than OIDC_ISSUER")
    with _lock:
        _cache[url] = (now, document)
    return document


def forget_discovery() -> None:
    with _lock:
        _cache.clear()


def provider() -> Provider:
    """The endpoints to use. Explicit settings win one by one; the rest come from discovery, which is
    fetched only when some endpoint is not set."""
    explicit = {
        "issuer": settings.OIDC_ISSUER,
        "authorization_endpoint": settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        "token_endpoint": settings.OIDC_OP_TOKEN_ENDPOINT,
        "jwks_uri": settings.OIDC_OP_JWKS_ENDPOINT,
        "userinfo_endpoint": settings.OIDC_OP_USER_ENDPOINT,
        "end_session_endpoint": settings.OIDC_OP_END_SESSION_ENDPOINT,
    }
    needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    values: dict[str, str] = {key: str(value) for key, value in explicit.items()}
    if not all(values[key] for key in needed):
        document = _discovered()
        for key in values:
            if not values[key] and isinstance(document.get(key), str):
                values[key] = str(document[key])
    missing = [key for key in (*needed, "issuer") if not values[key]]
    if missing:
        raise ProviderUnavailable(f"the identity provider's configuration lacks {', '.join(missing)}")
    return Provider(**values)
