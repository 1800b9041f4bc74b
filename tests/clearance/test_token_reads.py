"""A token restricted to some systems reads only those, on every API list and detail."""

from __future__ import annotations

import json

import pytest
from django.core.cache import caches

from clearance.tokens import api_token_create
from governance.services.reviews import reviews_open
from intake import services
from tests.conftest import answers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    caches["throttle"].clear()
    yield
    caches["throttle"].clear()


@pytest.fixture
def two_systems(request_in_review, personas):
    lead = personas["lead"]
    other = services.request_create_draft(requester=personas["requester"], **answers(title="Churn scores"))
    services.request_submit(actor=personas["requester"], request=other)
    services.request_start_triage(actor=lead, request=other)
    other.refresh_from_db()
    services.request_set_tier(actor=lead, request=other, tier=other.suggested_tier)
    services.request_assign_owners(actor=lead, request=other, business=personas["requester"],
                                   technical=personas["owner"], risk=personas["risk"])
    services.request_create_system(actor=lead, request=other, slug="churn-predictor")
    reviews_open(actor=lead, request=other, kinds=["security", "legal"])
    other.refresh_from_db()
    return request_in_review, other


def get(client, token, path):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_restricted_token_reads_only_its_systems(client, personas, two_systems):
    mine, other = two_systems
    owner = personas["lead"]
    full = api_token_create(user=owner, name="all", scopes=["read", "gate:check"]).plaintext
    narrow = api_token_create(user=owner, name="one", scopes=["read", "gate:check"],
                              systems=["support-copilot"]).plaintext
    for slug in ("support-copilot", "churn-predictor"):
        response = client.post("/api/v1/gate/checks", data=json.dumps({"system": slug, "environment": "production"}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {full}")
        assert response.status_code == 200, response.content

    def slugs_in(token, path, key):
        response = get(client, token, path)
        assert response.status_code == 200, response.content
        return sorted({str(row[key]) for row in response.json()["results"]})

    # The unrestricted token sees both, so the narrowing below is the restriction at work.
    assert slugs_in(full, "/api/v1/systems/", "slug") == ["churn-predictor", "support-copilot"]
    assert slugs_in(narrow, "/api/v1/systems/", "slug") == ["support-copilot"]
    assert len(slugs_in(full, "/api/v1/gate/checks", "system")) == 2
    narrow_checks = get(client, narrow, "/api/v1/gate/checks").json()["results"]
    assert len(narrow_checks) == 1 and "churn" not in json.dumps(narrow_checks)
    assert sorted(slugs_in(full, "/api/v1/requests/", "id")) == sorted([str(mine.pk), str(other.pk)])
    assert slugs_in(narrow, "/api/v1/requests/", "id") == [str(mine.pk)]
    full_reviews = get(client, full, "/api/v1/reviews/").json()["results"]
    narrow_reviews = get(client, narrow, "/api/v1/reviews/").json()["results"]
    assert len(full_reviews) == 5 and len(narrow_reviews) == 3
    assert {r["id"] for r in narrow_reviews} == set(mine.reviews.values_list("pk", flat=True))

    assert get(client, narrow, "/api/v1/systems/support-copilot/").status_code == 200
    assert get(client, narrow, "/api/v1/systems/churn-predictor/").status_code == 404
    assert get(client, full, "/api/v1/systems/churn-predictor/").status_code == 200
    assert get(client, narrow, f"/api/v1/requests/{other.pk}/").status_code == 404
    other_review = other.reviews.first()
    assert get(client, narrow, f"/api/v1/reviews/{other_review.pk}/").status_code == 404
    assert get(client, full, f"/api/v1/reviews/{other_review.pk}/").status_code == 200


def test_a_restricted_token_may_not_decide_another_systems_review(client, personas, two_systems):
    _, other = two_systems
    review = other.reviews.get(kind="security")
    narrow = api_token_create(user=personas["security"], name="one", scopes=["read", "write"],
                              systems=["support-copilot"]).plaintext
    response = client.post(f"/api/v1/reviews/{review.pk}/decision/", data=json.dumps(
        {"decision": "approved", "rationale": "Checked."}), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {narrow}")
    assert response.status_code == 404
    review.refresh_from_db()
    assert review.status == "open"
