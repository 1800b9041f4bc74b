"""The read-only compliance API: frameworks and controls for every signed-in caller, a system's control
status only for those who may see the system (and tokens allowed it), paginated, the same statuses as
the pages, in a number of queries that does not grow with controls or pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clearance.tokens import api_token_create
from compliance.loader import load_library
from compliance.selectors import compliance_many
from governance.selectors.facts import for_facts
from tests.conftest import make_ready

LIBRARY = load_library()


@pytest.mark.django_db
def test_frameworks_and_controls_are_listed_paginated(client, personas):
    assert client.get("/api/v1/frameworks/").status_code == 401
    client.force_login(personas["outsider"])
    listed = client.get("/api/v1/frameworks/").json()
    assert listed["count"] == len(LIBRARY.frameworks) and {f["id"] for f in listed["results"]} == set(LIBRARY.frameworks)
    rmf = client.get("/api/v1/frameworks/nist-ai-rmf/").json()
    assert rmf["controls"] == 72 and rmf["families"][0]["id"]
    assert client.get("/api/v1/frameworks/no-such/").status_code == 404
    first = client.get("/api/v1/frameworks/nist-ai-rmf/controls/").json()
    assert first["count"] == 72 and len(first["results"]) == 50 and first["next"]
    second = client.get("/api/v1/frameworks/nist-ai-rmf/controls/?page=2").json()
    keys = [c["key"] for c in first["results"] + second["results"]]
    assert keys == [c.key for c in LIBRARY.frameworks["nist-ai-rmf"].controls]
    mapped = next(c for c in first["results"] if c["requirements"])
    assert tuple(mapped["requirements"]) == LIBRARY.mapping_for("default", mapped["key"]).requirements
    assert client.get("/api/v1/frameworks/no-such/controls/").status_code == 404


def _queries(client: Any, url: str, **headers: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response.json()


@pytest.mark.django_db
def test_system_status_is_the_pages_scoped_and_bounded(client, personas, request_in_review):
    system = request_in_review.system
    make_ready(system, personas)
    url = f"/api/v1/systems/{system.slug}/compliance/"
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404  # may not see the system: as if it did not exist
    client.force_login(personas["auditor"])
    client.get(url)  # warm-up: the active policy is built once per process
    few, small = _queries(client, url + "?framework=iso-42001")
    many, first = _queries(client, url)
    later, second = _queries(client, url + "?page=2")
    assert few == many == later, (few, many, later)
    total = sum(len(f.controls) for f in LIBRARY.frameworks.values())
    assert first["count"] == total and small["count"] == len(LIBRARY.frameworks["iso-42001"].controls)
    page = {r.control.key: r for results in compliance_many(
        [for_facts(type(system).objects.filter(pk=system.pk)).get()], timezone.now())[system.pk].results.values()
        for r in results}
    for row in first["results"] + second["results"]:
        assert row["status"] == page[row["control"]].status, row["control"]
        assert [e["status"] for e in row["evidence"]] == [e.status for e in page[row["control"]].evidence]
    bad = client.get(url + "?framework=nope")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["framework"]


@pytest.mark.django_db
def test_a_token_restricted_to_other_systems_gets_404_and_one_without_read_403(client, personas, request_in_review):
    from catalog.services.systems import system_create

    other = system_create(actor=personas["lead"], name="Other", slug="other", purpose="p", risk_tier="high")
    restricted = api_token_create(user=personas["lead"], name="only-other", scopes=["read"], systems=[other.slug]).plaintext
    gate_only = api_token_create(user=personas["lead"], name="gate", scopes=["gate:check"]).plaintext
    url = f"/api/v1/systems/{request_in_review.system.slug}/compliance/"
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {restricted}").status_code == 404
    assert client.get("/api/v1/systems/other/compliance/", HTTP_AUTHORIZATION=f"Bearer {restricted}").status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {gate_only}").status_code == 403
