"""Signing in and out with the identity provider, and the pages that change when local passwords are off.

- ``/login/`` offers "Sign in with …" when SSO is configured, and the password form only while
  LOCAL_PASSWORDS_ENABLED is on; with it off a password POST is refused there and at ``/admin/login/``
  (which sends people to ``/login/``), and ``/password/`` answers 404.
- ``/sso/start/`` sends the browser to the provider with state, nonce and a PKCE challenge;
  ``/sso/callback/`` finishes the sign-in, or comes back to the login page saying why it failed.
- ``/logout/`` ends the Clearance session and, for an SSO session when the provider advertises an
  ``end_session_endpoint``, sends the browser there (OpenID Connect RP-Initiated Logout 1.0) with the
  ID token as ``id_token_hint`` and the login page as ``post_logout_redirect_uri``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from clearance.signin import ClearancePasswordChangeView
from clearance.sso import config
from clearance.sso.backend import FAILURE_ATTRIBUTE

log = logging.getLogger("clearance.sso")


def signin_context(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "sso_enabled": config.sso_enabled(),
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
        "local_passwords": settings.LOCAL_PASSWORDS_ENABLED,
        "can_change_password": bool(settings.LOCAL_PASSWORDS_ENABLED and user is not None
                                    and user.is_authenticated and user.has_usable_password()),
    }


def _back_to_login(request: HttpRequest, problem: str) -> HttpResponseRedirect:
    messages.error(request, f"Sign-in with {settings.OIDC_PROVIDER_NAME} did not work: {problem}.")
    return HttpResponseRedirect(reverse("login"))


class LoginView(auth_views.LoginView):
    """Django's login page; the password form only while local passwords are on."""

    template_name = "registration/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.LOCAL_PASSWORDS_ENABLED:
            return TemplateResponse(request, self.template_name, {
                "password_refused": f"Password sign-in is turned off here; sign in with {settings.OIDC_PROVIDER_NAME}.",
                "next": request.POST.get("next", "")}, status=403)
        return super().post(request, *args, **kwargs)


class SsoStartView(OIDCAuthenticationRequestView):  # type: ignore[misc] # the library is untyped
    """Redirect to the provider's authorization endpoint (state, nonce, PKCE S256 kept in the session)."""

    def __init__(self, **kwargs: Any) -> None:
        # The library's constructor reads the endpoint from settings; ours may come from discovery,
        # read per request so a provider that is down answers with a message, not an error page.
        View.__init__(self, **kwargs)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return getattr(settings, attr, *args)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not config.sso_enabled():
            return _back_to_login(request, "single sign-on is not configured")
        try:
            provider = config.provider()
        except config.ProviderUnavailable as exc:
            return _back_to_login(request, f"{exc}; try again in a few minutes")
        self.OIDC_OP_AUTH_ENDPOINT = provider.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        response: HttpResponseBase = super().get(request)
        return response


class SsoCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc] # the library is untyped
    """The provider sends the browser back here with the code; the backend does the checks."""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return getattr(settings, attr, *args)

    @property
    def failure_url(self) -> str:
        return reverse("login")

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not config.sso_enabled():
            return _back_to_login(request, "single sign-on is not configured")
        try:
            response: HttpResponseBase = super().get(request)
        except SuspiciousOperation:
            log.warning("single sign-on callback with a state this session did not start")
            return _back_to_login(request, "this sign-in was not started in this browser, or it was already "
                                           "used; start again")
        return response

    def login_failure(self) -> HttpResponseBase:
        request = self.request
        reason = getattr(request, FAILURE_ATTRIBUTE, None)
        if reason is None and request.GET.get("error"):
            reason = "the identity provider answered " + (request.GET.get("error_description")
                                                          or request.GET["error"])[:200]
            log.warning("single sign-on refused by the provider: %s", reason)
        if reason is None and getattr(self, "user", None) is not None and not self.user.is_active:
            reason = "your Clearance account is deactivated"
        return _back_to_login(request, reason or "the sign-in could not be completed; start again")


class LogoutView(auth_views.LogoutView):
    """Sign out of Clearance and, for an SSO session, of the identity provider where it allows it."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        id_token = request.session.get("oidc_id_token")
        response = super().post(request, *args, **kwargs)
        if not id_token or not config.sso_enabled():
            return response
        try:
            end_session = config.provider().end_session_endpoint
        except config.ProviderUnavailable as exc:
            log.warning("signed out of Clearance only: %s", exc)
            return response
        if not end_session:
            return response
        query = urlencode({"id_token_hint": id_token, "client_id": settings.OIDC_RP_CLIENT_ID,
                           "post_logout_redirect_uri": request.build_absolute_uri(reverse("login"))})
        separator = "&" if "?" in end_session else "?"
        return HttpResponseRedirect(f"{end_session}{separator}{query}")


class PasswordChangeView(ClearancePasswordChangeView):
    """Gone while local passwords are off, and for accounts that only sign in by SSO (no password to
    confirm, and a password set here would bypass the IdP's own checks)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.LOCAL_PASSWORDS_ENABLED or (request.user.is_authenticated
                                                    and not request.user.has_usable_password()):
            raise Http404("Passwords are not used here.")
        return super().dispatch(request, *args, **kwargs)


def admin_login(request: HttpRequest) -> HttpResponseBase:
    """The admin's own password form while local passwords are on; the Clearance login page otherwise."""
    if not settings.LOCAL_PASSWORDS_ENABLED:
        target = request.GET.get("next", "")
        return redirect(reverse("login") + (f"?{urlencode({'next': target})}" if target else ""))
    return admin.site.login(request)
