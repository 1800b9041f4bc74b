"""Single sign-on in a real browser against a real OpenID provider: Debian's Chromium (Playwright)
signs in to Clearance through node-oidc-provider (tests/idp/, run with the machine's Node.js on
127.0.0.1), with the authorization code flow, PKCE, and ID tokens signed by the provider's own keys."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session

from clearance.models import AuditEvent, SsoIdentity
from clearance.roles import Role, roles_of
from clearance.sso import config
from tests.conftest import BROWSER_MARKS
from tests.oidc import IDP_MARKS, NodeIdp

pytestmark = [*BROWSER_MARKS, *IDP_MARKS]

CLIENT_ID = "clearance"
SECRET = "the-test-idp-client-secret-0123456789abcdef"
ALICE = {"email": "alice@example.com", "given_name": "Alice", "family_name": "Ng"}


@pytest.fixture
def idp(request: Any, live_server: Any, settings: Any, tmp_path: Any) -> Iterator[NodeIdp]:
    """The provider signs ID tokens with RS256, or the algorithm a test names (indirect parameter)."""
    provider = NodeIdp(tmp_path, client_id=CLIENT_ID, client_secret=SECRET, alg=getattr(request, "param", "RS256"),
                       redirect_uri=f"{live_server.url}/sso/callback/",
                       post_logout_redirect_uri=f"{live_server.url}/login/",
                       users={"alice": {**ALICE, "groups": ["ai-governance", "all-staff", "marketing"]}})
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_PROVIDER_NAME = "the test IdP"
    settings.OIDC_GROUP_ROLES = {"ai-governance": ["governance-lead"], "all-staff": ["requester"],
                                 "ai-auditors": ["auditor"]}
    # As settings.py does from OIDC_ISSUER: the logout form may be redirected to the IdP.
    csp = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    csp["DIRECTIVES"]["form-action"] = [*csp["DIRECTIVES"]["form-action"], provider.issuer]
    settings.CONTENT_SECURITY_POLICY = csp
    config.forget_discovery()
    yield provider
    config.forget_discovery()
    provider.stop()


def sign_in_at_the_idp(page: Any, live_server: Any, login: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Sign in with the test IdP").click()
    page.wait_for_url("http://127.0.0.1:*/interaction/*")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password: the IdP decides")
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.django_db(transaction=True)
def test_sign_in_through_the_idp_maps_groups_and_logout_ends_the_idp_session(page, live_server, idp, tmp_path):
    # The IdP's dev pages import a web font; nothing leaves this machine.
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    csp_violations: list[str] = []
    page.on("console", lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))

    sign_in_at_the_idp(page, live_server, "alice")
    assert "Alice Ng" in page.locator("header").inner_text(), "the account menu names the person from the IdP's claims"
    assert page.get_by_role("link", name="Password").count() == 0, "an SSO account has no password to change"
    user = User.objects.get(username="alice")
    assert (user.email, user.first_name, user.last_name) == ("alice@example.com", "Alice", "Ng")
    assert roles_of(user) == {Role.GOVERNANCE_LEAD.value, Role.REQUESTER.value}, "marketing maps to nothing"
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (idp.issuer, "sub-alice")
    authorize = next(url for url in requests_seen if urlsplit(url).path == "/auth")
    params = parse_qs(urlsplit(authorize).query)
    assert params["code_challenge_method"] == ["S256"] and params["nonce"] and params["state"]
    assert page.get_by_role("link", name="Triage").is_visible()
    (session,) = [s.get_decoded() for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    assert jwt.get_unverified_header(session["oidc_id_token"])["alg"] == idp.alg
    page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)

    # Logging out of Clearance ends the IdP session too (RP-initiated logout with id_token_hint).
    page.locator("header .me summary").click()  # the account menu, named after the person
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("http://127.0.0.1:*/session/end*")
    end_session = parse_qs(urlsplit(next(u for u in requests_seen if "/session/end?" in u)).query)
    assert end_session["post_logout_redirect_uri"] == [f"{live_server.url}/login/"] and end_session["id_token_hint"]
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{live_server.url}/login/")
    assert page.get_by_role("link", name="Sign in with the test IdP").is_visible()

    # At the IdP an administrator takes alice out of ai-governance; her next sign-in asks for her
    # login again (the IdP session ended) and leaves her without the governance-lead role.
    idp.set_users({"alice": {**ALICE, "groups": ["all-staff", "marketing"]}})
    sign_in_at_the_idp(page, live_server, "alice")
    user = User.objects.get(pk=user.pk)
    assert roles_of(user) == {Role.REQUESTER.value}
    assert User.objects.count() == 1
    last = AuditEvent.objects.filter(action="user.roles_synced").order_by("-seq").first()
    assert last is not None and last.data["removed"] == ["governance-lead"]
    assert page.get_by_role("link", name="Triage").count() == 0
    assert not csp_violations, csp_violations


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("idp", ["ES256"], indirect=True)
def test_an_idp_signing_with_es256_signs_in_too(page, live_server, idp):
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    sign_in_at_the_idp(page, live_server, "alice")
    user = User.objects.get(username="alice")
    (session,) = [s.get_decoded() for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    assert jwt.get_unverified_header(session["oidc_id_token"])["alg"] == "ES256"
    assert roles_of(user) == {Role.GOVERNANCE_LEAD.value, Role.REQUESTER.value}
