"""The gate's token restrictions, per-token rate limits (429 + Retry-After, shared cache) and its
OpenAPI description (examples for pass, block and each error)."""

from __future__ import annotations

import json

import pytest
from django.core.cache import caches

from clearance.tokens import api_token_create
from governance.models import GateCheck

BODY = {"system": "support-copilot", "environment": "production"}


def post(client, token, body=BODY):
    response = client.post("/api/v1/gate/checks", data=json.dumps(body), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    return response


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    caches["throttle"].clear()
    yield
    caches["throttle"].clear()


@pytest.mark.django_db
def test_a_token_restricted_to_other_systems_is_refused(client, request_in_review, personas):
    token = api_token_create(user=personas["owner"], name="other", scopes=["gate:check"],
                             systems=["support-copilot"]).plaintext
    assert post(client, token).status_code == 200
    response = post(client, token, {"system": "churn-predictor", "environment": "production"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "token_not_allowed_for_system" and "support-copilot" in error["message"]
    assert error["fields"] == {"system": ["not allowed for this token"]}
    assert GateCheck.objects.count() == 1


@pytest.mark.django_db
def test_rate_limit_per_token_answers_429_with_retry_after(client, request_in_review, personas, settings,
                                                          monkeypatch):
    settings.GATE_RATE_LIMIT = "3/min"
    moment = [60 * 16_667 + 20.0]  # 20 s into a window, so the test cannot straddle two windows
    monkeypatch.setattr("clearance.tokens._clock", lambda: moment[0])
    first = api_token_create(user=personas["owner"], name="a", scopes=["gate:check"]).plaintext
    second = api_token_create(user=personas["owner"], name="b", scopes=["gate:check"]).plaintext
    fast = api_token_create(user=personas["owner"], name="c", scopes=["gate:check"], rate_per_minute=5).plaintext
    assert [post(client, first).status_code for _ in range(3)] == [200, 200, 200]
    limited = post(client, first)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "throttled" and "throttled" in limited.json()["error"]["message"]
    assert int(limited["Retry-After"]) == 40
    assert post(client, second).status_code == 200, "the limit is per token"
    assert [post(client, fast).status_code for _ in range(6)] == [200] * 5 + [429], "a token's own rate"
    assert GateCheck.objects.count() == 3 + 1 + 5
    moment[0] += 40  # the next window
    assert post(client, first).status_code == 200


def test_the_throttle_cache_is_shared_between_processes(settings):
    backend = settings.CACHES["throttle"]["BACKEND"]
    assert backend in {"django.core.cache.backends.filebased.FileBasedCache",
                       "django.core.cache.backends.redis.RedisCache"}, "a per-process cache would multiply the limit"


@pytest.mark.django_db
def test_openapi_describes_the_gate_with_every_example(client, personas):
    client.force_login(personas["owner"])
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content) if response["Content-Type"].startswith("application/vnd.oai.openapi+json") \
        else __import__("yaml").safe_load(response.content)
    post_op = schema["paths"]["/api/v1/gate/checks"]["post"]
    assert post_op["security"] and any("bearer" in str(s).lower() for s in post_op["security"])
    request_schema = post_op["requestBody"]["content"]["application/json"]
    assert request_schema["examples"]["Request"]["value"]["system"] == "support-copilot"
    responses = post_op["responses"]
    assert set(responses) >= {"200", "400", "401", "403", "404", "429"}
    ok = responses["200"]["content"]["application/json"]
    assert {"pass", "block"} <= {k.lower() for k in ok["examples"]}
    assert ok["examples"]["Pass"]["value"]["verdict"] == "pass"
    assert ok["examples"]["Block"]["value"]["verdict"] == "block"
    expected_codes = {
        "400": {"invalid", "parse_error"}, "401": {"not_authenticated", "authentication_failed"},
        "403": {"permission_denied", "token_not_allowed_for_system"},
        "404": {"unknown_system", "unknown_environment"}, "429": {"throttled"},
    }
    for status, codes in expected_codes.items():
        content = responses[status]["content"]["application/json"]
        assert content["schema"]["$ref"].endswith("/Error")
        found = {ex["value"]["error"]["code"] for ex in content["examples"].values()}
        assert found == codes, status
    body = schema["components"]["schemas"]["GateCheckResponse"]
    assert set(body["required"]) >= {"id", "verdict", "system", "environment", "policy", "checked_at",
                                     "requirements", "url", "warnings"}
    item = schema["components"]["schemas"]["GateRequirement"]
    assert {"since", "fix_url"} <= set(item["properties"])


@pytest.mark.django_db
def test_a_bad_token_answer_names_the_problem(client, request_in_review, personas):
    from datetime import timedelta

    from django.utils import timezone

    from clearance.models import ApiToken
    from clearance.tokens import api_token_revoke

    issued = api_token_create(user=personas["owner"], name="nightly", scopes=["gate:check"])
    api_token_revoke(token=issued.token, actor=personas["owner"])
    error = post(client, issued.plaintext).json()["error"]
    assert error["code"] == "authentication_failed" and "'nightly' was revoked on" in error["message"]
    expired = api_token_create(user=personas["owner"], name="old", scopes=["gate:check"])
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert "'old' expired on" in post(client, expired.plaintext).json()["error"]["message"]
    wrong = expired.plaintext[:-2] + ("AA" if not expired.plaintext.endswith("AA") else "BB")
    assert "not valid" in post(client, wrong).json()["error"]["message"], "a guess learns nothing"
