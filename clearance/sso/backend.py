"""Authentication backends: OpenID Connect, and local passwords that an installation can switch off.

mozilla-django-oidc exchanges the code (with the PKCE verifier) and hands us the ID token. Its own
check of that token covers the signature with one algorithm and the nonce; we verify the token
ourselves so that nothing is taken on trust: the signature against the provider's published keys
(JWKS) with an asymmetric algorithm from OIDC_SIGN_ALGORITHMS, the issuer, the audience (and ``azp``
when there are several), expiry and issue time, and the nonce. Any failure refuses the sign-in and
is logged with its reason; it also counts as a failed sign-in for django-axes (Django sends
``user_login_failed``), so an address that keeps presenting bad tokens is paused like a password
guesser, and an address already paused cannot sign in by SSO either (axes' backend runs first).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from clearance.sso import config
from clearance.sso.services import SsoRefused, sso_sign_in

log = logging.getLogger("clearance.sso")

# Where the callback view finds why a sign-in was refused, to tell the person.
FAILURE_ATTRIBUTE = "sso_failure"


class LocalPasswordBackend(ModelBackend):
    """Django's password check, refusing everything while LOCAL_PASSWORDS_ENABLED is off, so no page
    (the login form, the admin's) can sign anyone in with a password then."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> User | None:
        if not settings.LOCAL_PASSWORDS_ENABLED:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class TokenRefused(Exception):
    pass


def verify_id_token(token: str, *, nonce: str | None, provider: config.Provider) -> dict[str, Any]:
    """The ID token's claims once every check passes; TokenRefused with the reason otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the ID token is not a JWT ({exc})") from exc
    algorithm = header.get("alg")
    if algorithm not in settings.OIDC_SIGN_ALGORITHMS:
        raise TokenRefused(f"the ID token is signed with {algorithm!r}, not one of {settings.OIDC_SIGN_ALGORITHMS}")
    key = _signing_key(provider.jwks_uri, header)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key=key, algorithms=[algorithm], audience=settings.OIDC_RP_CLIENT_ID, issuer=provider.issuer,
            leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_signature": True},
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenRefused("the ID token's signature does not verify with the provider's key") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenRefused(f"the ID token is for another audience, not {settings.OIDC_RP_CLIENT_ID!r}") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRefused(f"the ID token comes from another issuer, not {provider.issuer!r}") from exc
    except jwt.ExpiredSignatureError as exc:
        raise TokenRefused("the ID token has expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the ID token is not valid ({exc})") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != settings.OIDC_RP_CLIENT_ID:
        raise TokenRefused("the ID token names several audiences and is not authorized for this client (azp)")
    if nonce is None or not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise TokenRefused("the ID token's nonce does not match this sign-in")
    return claims


def _signing_key(jwks_uri: str, header: dict[str, Any]) -> Any:
    try:
        response = requests.get(jwks_uri, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        keys = jwt.PyJWKSet.from_dict(response.json()).keys
    except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
        raise TokenRefused(f"the provider's keys at {jwks_uri} cannot be read ({exc})") from exc
    kid = header.get("kid")
    matching = [key for key in keys
                if (kid is None or key.key_id == kid)
                and (key.algorithm_name in (None, header["alg"]))
                and getattr(key, "public_key_use", None) in (None, "sig")]
    if len(matching) != 1:
        raise TokenRefused(f"the provider publishes {len(matching)} keys matching the token's key id {kid!r}")
    return matching[0].key


class OidcBackend(OIDCAuthenticationBackend):  # type: ignore[misc] # the library is untyped
    """mozilla-django-oidc's code flow with our endpoints, token checks and user provisioning."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library's constructor reads every endpoint; Django builds backends for each password
        # sign-in too, which must not wait for (or fail with) the IdP. Endpoints are read when used.
        self.UserModel = User
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self._provider: config.Provider | None = None

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        if attr == "OIDC_TIMEOUT":
            return settings.OIDC_TIMEOUT
        return getattr(settings, attr, *args)

    @property
    def provider(self) -> config.Provider:
        if self._provider is None:
            self._provider = config.provider()
        return self._provider

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802 - the library's attribute name
        return self.provider.token_endpoint

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        # Only the SSO callback passes a nonce; a password sign-in never reaches the token exchange.
        if request is None or "nonce" not in kwargs or not config.sso_enabled():
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
        except (TokenRefused, SsoRefused, config.ProviderUnavailable) as exc:
            self._refuse(request, str(exc))
        except SuspiciousOperation as exc:
            self._refuse(request, str(exc))
        except requests.RequestException as exc:
            self._refuse(request, f"the identity provider did not complete the sign-in ({exc})")
        else:
            return user
        return None

    def _refuse(self, request: HttpRequest, reason: str) -> None:
        from clearance.signin import client_address

        log.warning("single sign-on refused from %s: %s", client_address(request) or "?", reason)
        setattr(request, FAILURE_ATTRIBUTE, reason)
        return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        return verify_id_token(token, nonce=kwargs.get("nonce"), provider=self.provider)

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The verified ID token's claims, completed by the UserInfo endpoint when the provider has one
        (some send groups or names only there). UserInfo must be about the same subject (OpenID
        Connect Core 5.3.2); it never overrides the token's issuer, audience or subject."""
        claims = dict(payload)
        if self.provider.userinfo_endpoint and access_token:
            response = requests.get(self.provider.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"},
                                    timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
            response.raise_for_status()
            if not response.headers.get("content-type", "").lower().startswith("application/json"):
                raise TokenRefused("the provider's UserInfo answer is not JSON")
            info = response.json()
            if not isinstance(info, dict) or info.get("sub") != payload.get("sub"):
                raise TokenRefused("the provider's UserInfo is about another subject than the ID token")
            for name, value in info.items():
                if name not in ("iss", "aud", "sub", "exp", "iat", "nonce", "azp"):
                    claims.setdefault(name, value)
        return claims

    def get_user(self, user_id: int) -> User | None:
        # Django's check, which the library's override drops: a user deactivated after signing in by
        # SSO is signed out on their next request, as one signed in with a password is.
        return ModelBackend.get_user(self, user_id)

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> User:
        claims = self.get_userinfo(access_token, id_token, payload)
        return sso_sign_in(issuer=str(payload["iss"]), claims=claims)
