"""Repeated invalid bearer tokens from one address get 429 with Retry-After (the JSON error contract);
valid tokens are not slowed; with the shared cache down, a bad token still gets its 401."""

from __future__ import annotations

import json

import pytest
from django.core.cache import caches

from clearance import tokens
from clearance.tokens import api_token_create
from tests.servers import free_port

pytestmark = pytest.mark.django_db

BAD = "clr_0123456789ab_not-a-real-secret"


@pytest.fixture(autouse=True)
def _fresh_counts(settings):
    settings.BAD_TOKEN_LIMIT = 5
    tokens.throttle_cache_health.reset()
    for address in ("127.0.0.1", "10.0.0.9", "10.0.0.10"):
        tokens.BadTokenLimiter().forget(address)
    yield
    tokens.throttle_cache_health.reset()


def call(client, token, address="10.0.0.9"):
    return client.get("/api/v1/systems/", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address)


def test_too_many_bad_tokens_from_one_address_answer_429_and_valid_tokens_still_pass(client, personas, settings):
    good = api_token_create(user=personas["owner"], name="ci", scopes=["read"]).plaintext
    answers = [call(client, f"{BAD}{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    assert answers[0].json()["error"]["code"] == "authentication_failed"

    limited = call(client, BAD)
    assert limited.status_code == 429 and limited["Content-Type"] == "application/json"
    body = limited.json()
    assert body["error"]["code"] == "throttled"
    assert body["error"]["message"].startswith("too many invalid tokens from this address")
    wait = int(limited["Retry-After"])
    assert 1 <= wait <= settings.BAD_TOKEN_WINDOW_SECONDS
    assert call(client, "garbage-without-prefix").status_code == 429, "malformed tokens count too"

    # A valid token from the same address is answered as usual, and is not counted.
    for _ in range(3):
        assert call(client, good).status_code == 200
    # Another address is not affected by this one's mistakes.
    assert call(client, BAD, address="10.0.0.10").status_code == 401


def test_session_calls_and_valid_tokens_are_never_counted(client, personas):
    good = api_token_create(user=personas["owner"], name="ci", scopes=["read"]).plaintext
    for _ in range(20):
        assert call(client, good).status_code == 200
    assert [call(client, BAD).status_code for _ in range(6)] == [401] * 5 + [429]


def test_with_the_shared_cache_down_bad_tokens_still_answer_401(client, personas, settings, caplog):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: connections are refused
    settings.CACHES = {**settings.CACHES, "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": nowhere,
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}}}
    assert caches["throttle"]._servers == [nowhere]
    answers = [call(client, BAD).status_code for _ in range(8)]
    assert answers == [401] * 8, "no limit can be counted, and none is made up: each bad token gets its 401"
    assert "throttle cache unavailable" in caplog.text
    assert tokens.throttle_cache_health.failures == 1, "one refused connection, then the cache rests"
    good = api_token_create(user=personas["owner"], name="ci", scopes=["read"]).plaintext
    assert call(client, good).status_code == 200


def test_openapi_documents_the_429_on_every_operation(client, personas):
    client.force_login(personas["owner"])
    schema = json.loads(client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            answer = operation["responses"].get("429")
            assert answer is not None, f"{method.upper()} {path} does not document 429"
            assert "invalid bearer tokens" in answer["description"]
            assert answer["headers"]["Retry-After"]["required"] is True
