"""The shipped policy's no-open-serious-incident requirement at the gate: which incident blocks, who
handles it, where to fix it; staging lets a fix through; a mitigated incident stops blocking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clearance.tokens import api_token_create
from governance.policy.checks import no_open_incidents
from governance.policy.facts import IncidentFact, SystemFacts
from governance.selectors.facts import collect_facts_many, for_facts
from risks.services.incidents import incident_move
from tests.conftest import make_ready
from tests.risks.incident_helpers import open_incident

pytestmark = pytest.mark.django_db


def test_the_shipped_policy_blocks_production_while_a_serious_incident_is_open(client, personas, request_in_review):
    system = request_in_review.system
    make_ready(system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def gate(environment: str = "production") -> dict[str, Any]:
        response = client.post("/api/v1/gate/checks", content_type="application/json",
                               data=json.dumps({"system": system.slug, "environment": environment}),
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body

    def requirement(body: dict[str, Any]) -> dict[str, Any]:
        return next(r for r in body["requirements"] if r["id"] == "no-open-serious-incident")

    body = gate()
    assert body["verdict"] == "pass" and requirement(body)["message"] == "no open serious incident"
    open_incident(personas["security"], system, severity="critical")  # open, but not serious
    body = gate()
    assert body["verdict"] == "pass"
    assert requirement(body)["message"] == "no open serious incident that blocks a deploy (1 other open incident)"
    serious = open_incident(personas["security"], system, serious_facts=["health"], title="Wrong dosage advice")
    body = gate()
    unmet = [r for r in body["requirements"] if r["status"] not in ("met", "waived")]
    assert body["verdict"] == "block" and [r["id"] for r in unmet] == ["no-open-serious-incident"]
    assert unmet[0]["message"] == (f'INC-{serious.pk} "Wrong dosage advice" (serious, high, triage) is open, '
                                   "handled by Owner")
    assert unmet[0]["evidence"]["blocking"][0]["handled_by"] == "owner"
    assert unmet[0]["fix_url"].endswith(f"/systems/{system.slug}/incidents/")
    assert "waiver" in unmet[0]["fix"]
    staging = gate("staging")
    assert staging["verdict"] == "pass" and "no-open-serious-incident" not in {r["id"] for r in staging["requirements"]}
    incident_move(actor=personas["owner"], incident=serious, to="investigating")
    assert gate()["verdict"] == "block"
    incident_move(actor=personas["owner"], incident=serious, to="mitigated", note="Dosage answers switched off.")
    assert gate()["verdict"] == "pass"


def test_the_check_fails_closed_and_filters_by_its_parameters():
    now = None
    base = SystemFacts("s", "high", "production", (), {})
    assert no_open_incidents(base, {}, now).status == "missing"  # type: ignore[arg-type]
    found = SystemFacts("s", "high", "production", (), {}, incidents=(
        IncidentFact(1, "a", "low", "triage", False), IncidentFact(2, "b", "high", "mitigated", True)))
    assert no_open_incidents(found, {}, now).status == "failed"  # type: ignore[arg-type]
    assert no_open_incidents(found, {"states": ["triage", "investigating"]}, now).status == "met"  # type: ignore[arg-type]
    assert no_open_incidents(found, {"serious_only": False, "severities": ["low"]}, now).status == "failed"  # type: ignore[arg-type]
    assert no_open_incidents(found, {"serious_only": False, "severities": ["critical"]}, now).status == "met"  # type: ignore[arg-type]


def test_the_facts_read_the_register_in_one_query_for_any_number_of_systems(personas, request_in_review):
    system = request_in_review.system
    for _ in range(3):
        open_incident(personas["owner"], system, serious_facts=["health"])
    closed = open_incident(personas["owner"], system)
    incident_move(actor=personas["owner"], incident=closed, to="closed", note="Not an AI problem after all.")
    systems = list(for_facts(type(system).objects.filter(pk=system.pk)))
    with CaptureQueriesContext(connection) as queries:
        facts = collect_facts_many(systems)[system.pk]
    assert facts.incidents is not None and len(facts.incidents) == 3 and all(i.serious for i in facts.incidents)
    assert sum("risks_incident" in q["sql"] for q in queries.captured_queries) == 1
