"""The incident register's API: report with a token (scope write), read only what you may see, paginated
in a bounded number of queries; bad bodies name their fields and write nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.services.systems import system_create
from clearance.models import AuditEvent
from clearance.tokens import api_token_create
from risks.models import Incident
from tests.risks.incident_helpers import open_incident

pytestmark = pytest.mark.django_db

BODY = {"title": "Claims from one postcode flagged", "description": "Every claim from one postcode is flagged.",
        "severity": "high", "detected_at": "2026-11-30T08:00:00Z", "aware_at": "2026-11-30T09:30:00+01:00",
        "serious_facts": ["fundamental_rights", "widespread_infringement"], "harm_categories": ["discrimination"]}


def _call(client: Any, token: str, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is not None:
        kwargs |= {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method)(path, **kwargs)


def test_report_an_incident_through_the_api(client, personas, risky_system):
    token = api_token_create(user=personas["owner"], name="monitor", scopes=["read", "write"]).plaintext
    response = _call(client, token, "post", "/api/v1/incidents/", {**BODY, "systems": [risky_system.slug]})
    assert response.status_code == 201, response.content
    body = response.json()
    incident = Incident.objects.get()
    assert body["id"] == incident.pk and body["reference"] == f"INC-{incident.pk}"
    assert body["systems"] == [risky_system.slug] and body["reported_by"] == "owner" and body["owner"] == "owner"
    assert body["is_serious"] is True and body["report_deadline"] == "widespread-or-infrastructure"
    # Aware at 09:30 in Brussels on 30 November: two days after that day, at midnight Brussels time.
    assert body["report_due_at"] == "2026-12-02T23:00:00Z" and body["status"] == "triage"
    assert body["url"].endswith(f"/incidents/{incident.pk}/")


def test_bad_bodies_name_their_fields_and_write_nothing(client, personas, risky_system):
    token = api_token_create(user=personas["owner"], name="monitor", scopes=["read", "write"]).plaintext
    events = AuditEvent.objects.count()
    cases = [
        ({**BODY, "systems": ["no-such-system"]}, "systems"),
        ({**BODY, "systems": [risky_system.slug], "aware_at": "2026-11-29T08:00:00Z"}, "aware_at"),
        ({**BODY, "systems": [risky_system.slug], "severity": "dire"}, "severity"),
        ({**BODY, "systems": [risky_system.slug], "serious_facts": ["widespread_infringement"]}, "serious_facts"),
        ({**BODY, "systems": [risky_system.slug], "extra": 1}, "extra"),
        ({**BODY, "systems": [risky_system.slug], "owner": "nobody-here"}, "owner"),
        ({**BODY, "systems": [risky_system.slug], "risks": [999999]}, "risks"),
    ]
    for body, field in cases:
        response = _call(client, token, "post", "/api/v1/incidents/", body)
        assert response.status_code == 400, (field, response.content)
        assert field in response.json()["error"]["fields"], (field, response.json())
    answer = _call(client, token, "post", "/api/v1/incidents/", {**BODY, "systems": [risky_system.slug],
                                                                  "aware_at": "2026-11-29T08:00:00Z"}).json()
    assert answer["error"]["fields"]["aware_at"] == ["Aware since: cannot be before Detected"]
    assert Incident.objects.count() == 0 and AuditEvent.objects.count() == events


def test_scopes_and_restricted_tokens(client, personas, risky_system):
    other = system_create(actor=personas["lead"], name="Other", slug="other", purpose="p", risk_tier="minimal",
                          technical_owner=personas["owner"])
    reader = api_token_create(user=personas["owner"], name="r", scopes=["read"]).plaintext
    response = _call(client, reader, "post", "/api/v1/incidents/", {**BODY, "systems": [risky_system.slug]})
    assert response.status_code == 403 and "'write' scope" in response.json()["error"]["message"]
    narrow = api_token_create(user=personas["owner"], name="n", scopes=["read", "write"],
                              systems=[risky_system.slug]).plaintext
    response = _call(client, narrow, "post", "/api/v1/incidents/", {**BODY, "systems": ["other"]})
    assert response.status_code == 403 and response.json()["error"]["code"] == "token_not_allowed_for_system"
    mine = open_incident(personas["owner"], risky_system)
    theirs = open_incident(personas["owner"], other)
    listed = {i["id"] for i in _call(client, narrow, "get", "/api/v1/incidents/").json()["results"]}
    assert listed == {mine.pk}
    assert _call(client, narrow, "get", f"/api/v1/incidents/{theirs.pk}/").status_code == 404
    assert Incident.objects.count() == 2


def test_the_list_is_scoped_paginated_and_bounded(client, personas, risky_system):
    for _ in range(3):
        open_incident(personas["owner"], risky_system)
    lead = api_token_create(user=personas["lead"], name="l", scopes=["read"]).plaintext
    outsider = api_token_create(user=personas["outsider"], name="o", scopes=["read"]).plaintext
    _call(client, lead, "get", "/api/v1/incidents/")  # the token's first use records when it was used
    with CaptureQueriesContext(connection) as few:
        assert _call(client, lead, "get", "/api/v1/incidents/").json()["count"] == 3
    for i in range(60):
        open_incident(personas["owner"], risky_system, serious_facts=["health"] if i % 3 == 0 else [])
    with CaptureQueriesContext(connection) as many:
        page = _call(client, lead, "get", "/api/v1/incidents/").json()
    assert page["count"] == 63 and len(page["results"]) == 50 and page["next"]
    assert len(many) == len(few), [q["sql"][:100] for q in many.captured_queries]
    serious = _call(client, lead, "get", "/api/v1/incidents/?is_serious=true&status=triage").json()
    assert serious["count"] == 20
    assert _call(client, lead, "get", "/api/v1/incidents/?overdue=true").json()["count"] == 0
    assert _call(client, lead, "get", "/api/v1/incidents/?status=dire").status_code == 400
    assert _call(client, outsider, "get", "/api/v1/incidents/").json()["count"] == 0
    assert client.get("/api/v1/incidents/").status_code == 401
