"""Who may provision: only a provisioning client's token with the scim scope. A bad token gets 401 SCIM
JSON and changes nothing; too many bad ones from one address, or too many calls on one token, get 429
with Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from clearance.errors import DomainError
from clearance.models import AuditEvent
from clearance.tokens import BadTokenLimiter, api_token_create, api_token_revoke
from tests.provisioning.conftest import USER_SCHEMA, assert_scim_error

pytestmark = pytest.mark.django_db

NEW_USER = {"schemas": [USER_SCHEMA], "userName": "mallory@example.com", "active": True}


def state() -> tuple[int, int]:
    return User.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize("header", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer clr_000000000000_nope",
                                    "Bearer not-even-a-token", "Bearer a b"])
def test_bad_or_missing_tokens_get_401_and_change_nothing(scim: Any, header: str | None) -> None:
    before = state()
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    scim.token = ""
    for method, path, body in (("post", "/Users", NEW_USER), ("get", "/Users", None),
                               ("get", "/ServiceProviderConfig", None)):
        response = scim(method, path, body, **extra)
        assert_scim_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert state() == before


def test_a_signed_in_administrator_is_not_an_identity_provider(scim: Any, client: Any) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin)
    scim.token = ""
    assert_scim_error(scim("post", "/Users", NEW_USER), 401)
    assert not User.objects.filter(username="mallory@example.com").exists()


def test_tokens_that_are_not_provisioning_tokens_get_403(scim: Any, personas: Any, idp: Any) -> None:
    before = state()
    read = api_token_create(user=personas["lead"], name="api", scopes=["read", "write"]).plaintext
    assert "'scim' scope" in assert_scim_error(scim("post", "/Users", NEW_USER, token=read), 403)["detail"]
    # The scope on a person's token is not enough: it must belong to a provisioning client.
    person = api_token_create(user=personas["lead"], name="x", scopes=["scim"], service=True).plaintext
    assert_scim_error(scim("post", "/Users", NEW_USER, token=person), 403)
    assert User.objects.count() == before[0]
    # The client's own token cannot use the rest of the API.
    assert scim.client.get("/api/v1/systems/", HTTP_AUTHORIZATION=f"Bearer {idp[1]}").status_code == 403


def test_the_scim_scope_is_not_offered_to_people(personas: Any, client: Any) -> None:
    with pytest.raises(DomainError):
        api_token_create(user=personas["lead"], name="x", scopes=["scim"])
    client.force_login(personas["lead"])
    assert 'value="scim"' not in client.get("/tokens/").content.decode()


def test_revoked_token_and_deactivated_client(scim: Any, idp: Any) -> None:
    client, plaintext = idp
    assert scim("get", "/Users").status_code == 200
    User.objects.filter(pk=client.user.pk).update(is_active=False)
    assert "deactivated" in assert_scim_error(scim("get", "/Users"), 401)["detail"]
    User.objects.filter(pk=client.user.pk).update(is_active=True)
    token = client.user.api_tokens.get()
    api_token_revoke(token=token, actor=client.user)
    assert "revoked" in assert_scim_error(scim("post", "/Users", NEW_USER), 401)["detail"]
    assert not User.objects.filter(username="mallory@example.com").exists()


def test_too_many_bad_tokens_from_one_address_get_429(scim: Any, settings: Any) -> None:
    settings.BAD_TOKEN_LIMIT = 3
    BadTokenLimiter().forget("127.0.0.1")
    scim.token = "clr_000000000000_guess"
    statuses = [scim("get", "/Users").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    response = scim("post", "/Users", NEW_USER)
    assert_scim_error(response, 429)
    assert 1 <= int(response["Retry-After"]) <= settings.BAD_TOKEN_WINDOW_SECONDS
    assert not User.objects.filter(username="mallory@example.com").exists()
    BadTokenLimiter().forget("127.0.0.1")


def test_rate_limit_per_token(scim: Any, settings: Any) -> None:
    settings.SCIM_RATE_LIMIT = "3/min"
    assert [scim("get", "/Users").status_code for _ in range(3)] == [200, 200, 200]
    before = state()
    response = scim("post", "/Users", NEW_USER)
    error = assert_scim_error(response, 429)
    assert "too many" in error["detail"] and 1 <= int(response["Retry-After"]) <= 60
    assert state() == before


def test_oversized_and_malformed_bodies(scim: Any, settings: Any) -> None:
    settings.SCIM_MAX_BODY_BYTES = 2048
    before = state()
    assert_scim_error(scim("post", "/Users", raw=b'{"userName": "' + b"a" * 4096 + b'"}'), 413)
    assert_scim_error(scim("post", "/Users", raw=b"[1, 2]"), 400, "invalidSyntax")
    assert_scim_error(scim("post", "/Users", raw=b"\xff\xfe"), 400, "invalidSyntax")
    assert_scim_error(scim("post", "/Users", raw=b"[" * 200 + b"]" * 200), 400, "invalidSyntax")
    assert_scim_error(scim("post", "/Users", raw=b'{"userName": NaN}'), 400, "invalidSyntax")
    assert state() == before
