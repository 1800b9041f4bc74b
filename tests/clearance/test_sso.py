"""Single sign-on's verification path, user provisioning, roles, local passwords off and logout, driven
through the real views (Django's test client) against a provider on 127.0.0.1 whose ID tokens the test
builds (tests/oidc.py ScriptedOp). The full browser flow against node-oidc-provider is in
tests/test_browser_sso.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client, RequestFactory

from clearance.models import AuditEvent, SsoIdentity
from clearance.roles import Role, roles_of
from clearance.sso import config
from clearance.sso.checks import group_roles_name_known_roles
from tests.conftest import PASSWORD
from tests.oidc import ScriptedOp

CLIENT_ID = "clearance-tests"
SECRET = "a-client-secret-only-the-tests-know-0123456789"
MAPPING = {"ai-governance": ["governance-lead"], "ai-auditors": ["auditor"], "all-staff": ["requester"]}


@pytest.fixture
def op(settings: Any) -> Iterator[ScriptedOp]:
    provider = ScriptedOp(client_id=CLIENT_ID)
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_GROUP_ROLES = MAPPING
    settings.OIDC_PROVIDER_NAME = "Example IdP"
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    config.forget_discovery()
    yield provider
    config.forget_discovery()
    provider.close()


def sign_in(client: Client, op: ScriptedOp, build: Any) -> Any:
    """Start a sign-in, let ``build(nonce)`` make the ID token the provider answers with, and come back
    to the callback as the provider would; returns the callback's response."""
    start = client.get("/sso/start/")
    assert start.status_code == 302, start
    query = parse_qs(urlsplit(start["Location"]).query)
    nonce = query["nonce"][0]
    op.token_for = lambda form: build(nonce)
    return client.get("/sso/callback/", {"code": "code-1", "state": query["state"][0]})


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


@pytest.mark.django_db
def test_a_first_sign_in_creates_the_user_with_the_roles_of_their_mapped_groups(client, op):
    response = client.get("/sso/start/?next=/systems/")
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{op.issuer}/authorize"
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 32
    assert query["scope"] == ["openid email profile groups"]
    nonce = query["nonce"][0]
    op.token_for = lambda form: op.sign(op.claims(nonce, groups=["ai-governance", "all-staff", "marketing"]))
    callback = client.get("/sso/callback/", {"code": "code-1", "state": query["state"][0]})

    assert callback.status_code == 302 and callback["Location"] == "/systems/"
    user = signed_in_user(client)
    assert user is not None and user.username == "dana"
    assert (user.email, user.first_name, user.last_name) == ("dana@example.com", "Dana", "Okafor")
    assert not user.has_usable_password()
    assert roles_of(user) == {Role.GOVERNANCE_LEAD.value, Role.REQUESTER.value}, "marketing is mapped to nothing"
    assert SsoIdentity.objects.get(user=user).subject == "sub-dana"
    # PKCE: the code was exchanged with the verifier whose S256 challenge went to the provider.
    (token_request,) = op.token_requests
    assert ScriptedOp.pkce_matches(token_request["code_verifier"], query["code_challenge"][0])
    assert token_request["client_secret"] == SECRET and token_request["redirect_uri"].endswith("/sso/callback/")
    synced = AuditEvent.objects.get(action="user.roles_synced")
    assert synced.data["added"] == ["governance-lead", "requester"] and synced.data["unmapped_groups"] == ["marketing"]
    assert AuditEvent.objects.filter(action="user.created", object_id=str(user.pk)).exists()
    # The state is used up: the same callback again is refused.
    again = client.get("/sso/callback/", {"code": "code-1", "state": query["state"][0]})
    assert again.status_code == 302 and again["Location"] == "/login/"


def _wrong_audience(op: ScriptedOp, nonce: str) -> str:
    return op.sign(op.claims(nonce, aud="another-app"))


def _wrong_issuer(op: ScriptedOp, nonce: str) -> str:
    return op.sign(op.claims(nonce, iss="http://127.0.0.1:1/evil"))


def _wrong_nonce(op: ScriptedOp, nonce: str) -> str:
    return op.sign(op.claims("a-nonce-from-another-sign-in"))


def _no_nonce(op: ScriptedOp, nonce: str) -> str:
    claims = op.claims(nonce)
    del claims["nonce"]
    return op.sign(claims)


def _bad_signature(op: ScriptedOp, nonce: str) -> str:
    # Signed by a key the provider never published, under the provider's key id.
    return op.sign(op.claims(nonce), key=ec.generate_private_key(ec.SECP256R1()), kid="ec-1")


def _tampered(op: ScriptedOp, nonce: str) -> str:
    header, _, signature = op.sign(op.claims(nonce, groups=[]), alg="RS256").split(".")
    forged = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(op.claims(nonce, groups=["ai-governance"])).encode())
    return f"{header}.{forged.decode()}.{signature}"


def _symmetric(op: ScriptedOp, nonce: str) -> str:
    # The classic confusion: an HMAC "signature" keyed with something the attacker knows.
    return jwt.encode(op.claims(nonce), SECRET, algorithm="HS256", headers={"kid": "ec-1"})


def _expired(op: ScriptedOp, nonce: str) -> str:
    past = int(time.time()) - 3600
    return op.sign(op.claims(nonce, iat=past - 300, exp=past))


def _several_audiences_without_azp(op: ScriptedOp, nonce: str) -> str:
    return op.sign(op.claims(nonce, aud=[CLIENT_ID, "another-app"]))


@pytest.mark.django_db
@pytest.mark.parametrize(("build", "reason"), [
    (_wrong_audience, "for another audience"),
    (_wrong_issuer, "from another issuer"),
    (_wrong_nonce, "nonce does not match"),
    (_no_nonce, "nonce does not match"),
    (_bad_signature, "signature does not verify"),
    (_tampered, "signature does not verify"),
    (_symmetric, "signed with 'HS256'"),
    (_expired, "has expired"),
    (_several_audiences_without_azp, "several audiences"),
])
def test_a_bad_id_token_is_refused_and_logged(client, op, caplog, build, reason):
    caplog.set_level(logging.WARNING, logger="clearance.sso")
    response = sign_in(client, op, lambda nonce: build(op, nonce))

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert signed_in_user(client) is None
    assert not User.objects.exists() and not SsoIdentity.objects.exists()
    logged = [r.getMessage() for r in caplog.records if r.name == "clearance.sso"]
    assert any("single sign-on refused" in line and reason in line for line in logged), logged
    page = client.get("/login/")
    assert "Sign-in with Example IdP did not work" in page.content.decode()
    assert reason in page.content.decode().replace("&#x27;", "'")


@pytest.mark.django_db
def test_an_rs256_token_from_the_providers_jwks_is_accepted(client, op):
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce), alg="RS256"))
    assert signed_in_user(client) is not None


@pytest.mark.django_db
def test_groups_removed_at_the_idp_take_their_roles_away_at_the_next_sign_in_and_local_roles_stay(client, op):
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce, groups=["ai-governance", "ai-auditors"])))
    user = User.objects.get(username="dana")
    # A role the mapping never names is the administrators' to give, not the IdP's to take.
    user.groups.add(Group.objects.get_or_create(name=Role.SYSTEM_OWNER.value)[0])
    client.post("/logout/")

    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce, groups=["ai-auditors", "unknown-team"],
                                                        email="dana.okafor@example.com")))
    user = User.objects.get(pk=user.pk)
    assert signed_in_user(client) == user, "matched on the subject, whatever the email says"
    assert roles_of(user) == {Role.AUDITOR.value, Role.SYSTEM_OWNER.value}
    assert user.email == "dana.okafor@example.com" and User.objects.count() == 1
    removed = AuditEvent.objects.filter(action="user.roles_synced").order_by("-seq").first()
    assert removed is not None and removed.data["removed"] == ["governance-lead"] and removed.data["added"] == []


@pytest.mark.django_db
def test_only_unmapped_groups_grant_no_role(client, op):
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce, groups=["marketing", "finance"])))
    user = signed_in_user(client)
    assert user is not None and roles_of(user) == frozenset()
    assert client.get("/portfolio/").status_code in (403, 404)


@pytest.mark.django_db
def test_an_existing_account_of_the_same_name_is_never_taken_over(client, op, caplog):
    existing = User.objects.create_user("dana", email="dana@example.com", password=PASSWORD)
    caplog.set_level(logging.WARNING, logger="clearance.sso")
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert signed_in_user(client) is None and not SsoIdentity.objects.exists()
    assert any("already exists and is not linked" in r.getMessage() for r in caplog.records)

    # The administrator links it on purpose; then the IdP account signs in as it.
    call_command("sso_link", "dana", "sub-dana")
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert signed_in_user(client) == existing
    assert AuditEvent.objects.filter(action="user.sso_linked").count() == 1


@pytest.mark.django_db
def test_another_idp_account_with_a_users_email_gets_its_own_account(client, op):
    User.objects.create_user("dana", email="dana@example.com", password=PASSWORD)
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce, sub="sub-impostor", preferred_username="dana2")))
    user = signed_in_user(client)
    assert user is not None and user.username == "dana2" and User.objects.count() == 2


@pytest.mark.django_db
def test_a_deactivated_user_cannot_sign_in_by_sso(client, op):
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert client.get("/").status_code == 200
    User.objects.filter(username="dana").update(is_active=False)
    assert client.get("/")["Location"].startswith("/login/"), "the SSO session ends with the account"
    client.logout()
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert signed_in_user(client) is None
    assert "deactivated" in client.get("/login/").content.decode()


@pytest.mark.django_db
def test_logout_sends_the_browser_to_the_providers_end_session_endpoint(client, op):
    tokens: list[str] = []

    def build(nonce: str) -> str:
        tokens.append(op.sign(op.claims(nonce)))
        return tokens[-1]

    sign_in(client, op, build)
    response = client.post("/logout/")
    target = urlsplit(response["Location"])
    assert response.status_code == 302 and f"{target.scheme}://{target.netloc}{target.path}" == f"{op.issuer}/session/end"
    query = parse_qs(target.query)
    assert query["id_token_hint"] == tokens and query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/"]
    assert signed_in_user(client) is None


@pytest.mark.django_db
def test_logout_stays_local_when_the_provider_has_no_end_session_endpoint(client, op, personas):
    op.end_session = False
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert client.post("/logout/")["Location"] == "/login/"
    client.force_login(personas["lead"])  # a password session has no IdP session to end
    op.end_session = True
    config.forget_discovery()
    assert client.post("/logout/")["Location"] == "/login/"


@pytest.mark.django_db
def test_with_local_passwords_off_only_sso_signs_in(client, op, personas, settings):
    settings.LOCAL_PASSWORDS_ENABLED = False
    page = client.get("/login/").content.decode()
    assert "Sign in with Example IdP" in page and 'type="password"' not in page
    refused = client.post("/login/", {"username": "lead", "password": PASSWORD})
    assert refused.status_code == 403 and "Password sign-in is turned off" in refused.content.decode()
    assert signed_in_user(client) is None
    assert authenticate(RequestFactory().post("/login/"), username="lead", password=PASSWORD) is None
    assert client.get("/admin/login/?next=/admin/")["Location"] == "/login/?next=%2Fadmin%2F"
    client.force_login(personas["lead"])
    assert client.get("/password/").status_code == 404
    assert 'href="/password/"' not in client.get("/").content.decode()


@pytest.mark.django_db
def test_with_local_passwords_on_both_ways_are_offered_and_sso_users_have_no_password_page(client, op):
    page = client.get("/login/").content.decode()
    assert "Sign in with Example IdP" in page and 'type="password"' in page
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert client.get("/password/").status_code == 404
    assert 'href="/password/"' not in client.get("/").content.decode()


@pytest.mark.django_db
def test_a_provider_that_cannot_be_reached_gets_a_message_not_an_error(client, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    config.forget_discovery()
    response = client.get("/sso/start/", follow=True)
    assert response.status_code == 200
    assert "cannot be read; try again in a few minutes" in response.content.decode()


@pytest.mark.django_db
def test_discovery_naming_another_issuer_is_refused(client, op, settings):
    settings.OIDC_ISSUER = op.issuer + "/tenant"
    settings.OIDC_DISCOVERY_URL = op.issuer + "/.well-known/openid-configuration"
    response = client.get("/sso/start/", follow=True)
    assert "names another issuer" in response.content.decode()


@pytest.mark.django_db
def test_sso_is_off_until_configured(client):
    assert "Sign in with" not in client.get("/login/").content.decode()
    response = client.get("/sso/start/", follow=True)
    assert "single sign-on is not configured" in response.content.decode()


@pytest.mark.django_db
def test_a_paused_address_cannot_sign_in_by_sso_either(client, op, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/login/", {"username": "nobody", "password": "a wrong guess"})
    response = sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert response.status_code == 429 and "Sign-in is paused" in response.content.decode()
    assert signed_in_user(client) is None and not User.objects.filter(username="dana").exists()


def test_the_group_mapping_must_name_known_roles(settings):
    settings.OIDC_GROUP_ROLES = {"ai-governance": ["governance-lead", "overlord"]}
    (error,) = group_roles_name_known_roles(None)
    assert error.id == "clearance.E010" and "'overlord'" in error.msg and "'ai-governance'" in error.msg
    settings.OIDC_GROUP_ROLES = MAPPING
    assert group_roles_name_known_roles(None) == []


@pytest.mark.django_db
def test_explicit_endpoints_need_no_discovery(client, op, settings):
    settings.OIDC_DISCOVERY_URL = "http://127.0.0.1:9/nothing-listens-here"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{op.issuer}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{op.issuer}/token"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{op.issuer}/jwks"
    sign_in(client, op, lambda nonce: op.sign(op.claims(nonce)))
    assert signed_in_user(client) is not None
    # No UserInfo and no end_session endpoint given: the token's claims suffice, logout stays local.
    assert client.post("/logout/")["Location"] == "/login/"


def test_settings_come_from_the_environment_and_bad_ones_are_named(tmp_path):
    from tests.clearance.test_settings_and_demo import clean_env, manage

    secret_file = tmp_path / "client-secret"
    secret_file.write_text("from-a-mounted-file-0123456789\n")
    env = clean_env(tmp_path, OIDC_ISSUER="https://login.example.com/realms/staff/", OIDC_CLIENT_ID="clearance",
                    OIDC_CLIENT_SECRET_FILE=str(secret_file), LOCAL_PASSWORDS_ENABLED="false",
                    OIDC_GROUP_ROLES='{"ai-governance": ["governance-lead"]}')
    shown = manage("shell", "-c", "from django.conf import settings as s; print(s.OIDC_ISSUER, "
                   "s.OIDC_RP_CLIENT_SECRET == 'from-a-mounted-file-0123456789', s.LOCAL_PASSWORDS_ENABLED, "
                   "s.OIDC_GROUP_ROLES, s.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])", env=env)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip().splitlines()[-1] == ("https://login.example.com/realms/staff True False "
                                    "{'ai-governance': ['governance-lead']} ['self', 'https://login.example.com']"
                                    ).replace("'self'", "\"'self'\"")

    # Each case starts a process (seconds each); unknown role names are checked in process above.
    for extra, message in [
        ({"OIDC_GROUP_ROLES": "{ai-governance: lead}"}, "OIDC_GROUP_ROLES must be a JSON object"),
        ({"LOCAL_PASSWORDS_ENABLED": "false"}, "LOCAL_PASSWORDS_ENABLED=false needs single sign-on configured"),
        ({"OIDC_CLIENT_SECRET_FILE": str(tmp_path / "missing")}, "OIDC_CLIENT_SECRET_FILE cannot be read"),
    ]:
        result = manage("check", env=clean_env(tmp_path, **extra))
        assert result.returncode != 0 and message in result.stderr, (extra, result.stderr[-2000:])


@pytest.mark.django_db(transaction=True)
def test_two_first_sign_ins_of_one_person_at_once_make_one_account(settings):
    import threading

    from django.db import connection

    from clearance.sso.services import sso_sign_in

    settings.OIDC_GROUP_ROLES = MAPPING
    claims = {"sub": "sub-erin", "preferred_username": "erin", "email": "erin@example.com", "groups": ["all-staff"]}
    barrier = threading.Barrier(2)
    users: list[int] = []
    errors: list[BaseException] = []

    def sign_in_now() -> None:
        try:
            barrier.wait(timeout=10)
            users.append(sso_sign_in(issuer="https://idp.example.com", claims=dict(claims)).pk)
        except BaseException as exc:  # reported below, with the thread's own traceback lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in_now) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(users) == 2 and users[0] == users[1]
    assert User.objects.filter(username="erin").count() == 1 and SsoIdentity.objects.count() == 1
    assert roles_of(User.objects.get(username="erin")) == {Role.REQUESTER.value}


def test_the_deploy_check_warns_about_an_identity_provider_over_plain_http(settings):
    from clearance.sso.checks import provider_is_reached_over_https

    settings.OIDC_ISSUER = "https://login.example.com/realms/staff"
    assert provider_is_reached_over_https(None) == []
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://login.example.com/token"
    (warning,) = provider_is_reached_over_https(None)
    assert warning.id == "clearance.W010" and "http://login.example.com/token" in warning.msg
