"""Hostile API bodies: too deep, too large, not JSON, not finite. Each is a 400 (or 415 for another
media type) with the API's error body, before any view reads it; and on the review decision the
question "may you decide this?" is answered before the body is even parsed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from clearance.tokens import api_token_create
from governance.models import GateCheck, Review

DEEP = "[" * 1000 + "]" * 1000  # a RecursionError in the JSON parser once
DEEP_OBJECT = '{"system": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def tokens(personas: dict[str, Any]) -> dict[str, str]:
    return {
        "gate": api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext,
        "security": api_token_create(user=personas["security"], name="sec", scopes=["read", "write"]).plaintext,
        "owner": api_token_create(user=personas["owner"], name="owner", scopes=["read", "write"]).plaintext,
    }


def post(client: Client, url: str, body: str | bytes, token: str, content_type: str = "application/json") -> Any:
    return client.post(url, data=body, content_type=content_type, **bearer(token))


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_a_deeply_nested_body_is_a_400_at_the_gate(client, request_in_review, tokens, body):
    response = post(client, "/api/v1/gate/checks", body, tokens["gate"])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error" and "nested deeper than 32 levels" in error["message"]
    assert not GateCheck.objects.exists()


@pytest.mark.django_db
def test_a_deeply_nested_decision_is_a_400_for_a_reviewer_and_a_403_for_anyone_else(client, request_in_review,
                                                                                     tokens):
    review = Review.objects.get(request=request_in_review, kind="security")
    url = f"/api/v1/reviews/{review.pk}/decision/"
    # The system owner may see the security review but not decide it: refused before the body is read.
    refused = post(client, url, DEEP, tokens["owner"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    response = post(client, url, DEEP, tokens["security"])
    assert response.status_code == 400 and "nested deeper" in response.json()["error"]["message"]
    review.refresh_from_db()
    assert review.status == "open"


@pytest.mark.django_db
def test_permission_comes_before_body_validation_on_the_decision(client, request_in_review, tokens):
    review = Review.objects.get(request=request_in_review, kind="security")
    url = f"/api/v1/reviews/{review.pk}/decision/"
    for body in ("{}", '{"decision": "maybe"}', "not json"):
        response = post(client, url, body, tokens["owner"])
        assert response.status_code == 403, (body, response.content)
        assert "fields" not in response.json()["error"]  # nothing about the body leaks to a non-decider
    assert post(client, url, "{}", tokens["security"]).status_code == 400
    decided = post(client, url, json.dumps({"decision": "approved", "rationale": "Pen test passed."}),
                   tokens["security"])
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    again = post(client, url, json.dumps({"decision": "rejected", "rationale": "Second thoughts."}), tokens["security"])
    assert again.status_code == 409


@pytest.mark.django_db
def test_an_oversized_body_is_a_400(client, request_in_review, tokens, settings):
    big = json.dumps({"system": "support-copilot", "environment": "production", "version": "x" * 300_000})
    response = post(client, "/api/v1/gate/checks", big, tokens["gate"])
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"the body is larger than {settings.API_MAX_BODY_BYTES} bytes"


@pytest.mark.django_db
@pytest.mark.parametrize("body, expected", [
    ('{"system": "support-copilot", "environment": "production", "version": NaN}', "NaN is not a number JSON allows"),
    ('{"system": "support-copilot", "environment": Infinity}', "Infinity is not a number JSON allows"),
    (b'{"system": "\xff"}', "not UTF-8"),
    ('{"system": 1' + "0" * 5000 + "}", "cannot be read"),
    ('{"system": ', "invalid JSON"),
])
def test_bodies_json_does_not_allow_are_400(client, request_in_review, tokens, body, expected):
    response = post(client, "/api/v1/gate/checks", body, tokens["gate"])
    assert response.status_code == 400
    assert expected in response.json()["error"]["message"]


@pytest.mark.django_db
def test_the_api_reads_json_only(client, request_in_review, tokens):
    response = client.post("/api/v1/gate/checks", data={"system": "support-copilot", "environment": "production"},
                           **bearer(tokens["gate"]))
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
