"""The incident register's pages: the register with its filters (bounded queries), the report form, the
detail page with its countdown and timeline, and the forms that move and classify an incident."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clearance.models import AuditEvent
from risks.models import Incident
from tests.risks.incident_helpers import open_incident

pytestmark = pytest.mark.django_db


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_register_costs_the_same_queries_for_few_and_many(client, personas, risky_system):
    for _ in range(3):
        open_incident(personas["owner"], risky_system)
    client.force_login(personas["lead"])
    client.get("/incidents/")  # the process caches the active policy on its first page (the banner)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/incidents/?status=").status_code == 200
    for i in range(60):
        open_incident(personas["owner"], risky_system, serious_facts=["health"] if i % 2 else [])
    with CaptureQueriesContext(connection) as many:
        body = _text(client.get("/incidents/?status="))
    assert len(many) == len(few), "\n".join(q["sql"][:120] for q in [*few.captured_queries, {"sql": "----"}, *many.captured_queries])
    assert "Page 1 of 2 · 63 in all" in body and "report due in 15 days" in body


def test_filters_narrow_the_register_and_a_bad_one_is_named(client, personas, risky_system):
    serious = open_incident(personas["owner"], risky_system, serious_facts=["death"], severity="critical")
    calm = open_incident(personas["owner"], risky_system, severity="low")
    late = open_incident(personas["owner"], risky_system, serious_facts=["health"])
    Incident.objects.filter(pk=late.pk).update(report_due_at=timezone.now() - timedelta(hours=3))
    client.force_login(personas["owner"])

    def listed(query: str) -> set[str]:
        return set(re.findall(r'href="/incidents/(\d+)/"', client.get(f"/incidents/{query}").content.decode()))

    assert listed("") == {str(serious.pk), str(calm.pk), str(late.pk)}
    assert listed("?severity=critical") == {str(serious.pk)}
    assert listed("?overdue=yes") == {str(late.pk)}
    assert listed(f"?system={risky_system.slug}&severity=low") == {str(calm.pk)}
    body = _text(client.get("/incidents/?overdue=yes"))
    assert "report overdue by 3 hours" in body
    response = client.get("/incidents/?severity=dire")
    assert response.status_code == 400
    assert "Severity: Select a valid choice" in _text(response)
    assert not re.search(r'href="/incidents/\d+/"', _text(response))


def test_nobody_sees_what_they_may_not(client, personas, risky_system):
    incident = open_incident(personas["owner"], risky_system, title="Quiet incident")
    for name, sees in (("outsider", False), ("legal", False), ("auditor", True), ("risk", True)):
        client.force_login(personas[name])
        assert ("Quiet incident" in client.get("/incidents/").content.decode()) is sees, name
        assert client.get(f"/incidents/{incident.pk}/").status_code == (200 if sees else 404), name


def test_the_report_form_names_fields_by_label_and_keeps_crlf_text(client, personas, risky_system):
    client.force_login(personas["owner"])
    now = timezone.now()
    body = {"systems": [risky_system.pk], "title": "Fraud flags for one postcode",
            "description": "Every claim from one postcode\r\nwas flagged since Monday.\r\n", "severity": "high",
            "harm_categories": ["discrimination", "economic"], "people_affected": "40",
            "detected_at": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "aware_at": (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"), "serious_facts": ["health"]}
    events = AuditEvent.objects.count()
    refused = client.post("/incidents/new/", body)
    assert refused.status_code == 400 and "Aware since: cannot be before Detected" in _text(refused)
    assert Incident.objects.count() == 0 and AuditEvent.objects.count() == events
    refused = client.post("/incidents/new/", {**body, "title": ""})
    assert refused.status_code == 400 and re.search(r"Title\W.*This field is required", _text(refused))
    body["aware_at"] = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/incidents/new/", body)
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    assert incident.description == "Every claim from one postcode\nwas flagged since Monday."
    page = _text(client.get(response["Location"]))
    assert "Serious incident." in page and "Report due in 15 days" in page and "Art. 73(2)" in page
    assert "Discrimination or unfair treatment, Financial or economic loss" in page


def test_moves_from_the_page_and_a_stale_one_is_a_conflict(client, personas, risky_system):
    incident = open_incident(personas["owner"], risky_system)
    client.force_login(personas["owner"])
    page = _text(client.get(f"/incidents/{incident.pk}/"))
    assert "Start investigating" in page and "Close (no action needed)" in page
    response = client.post(f"/incidents/{incident.pk}/move/", {"to": "investigating", "expected": "triage"})
    assert response.status_code == 302
    page = _text(client.get(response["Location"]))
    assert "moved it from triage to investigating" in page
    # A second tab still showing triage tries to close it.
    response = client.post(f"/incidents/{incident.pk}/move/", {"to": "closed", "expected": "triage",
                                                               "note": "Duplicate of another report."}, follow=True)
    assert "someone changed it first" in _text(response)
    assert Incident.objects.get(pk=incident.pk).status == "investigating"
    response = client.post(f"/incidents/{incident.pk}/move/", {"to": "closed", "expected": "investigating"},
                           follow=True)
    assert "Note: say in at least 10 characters how it ended" in _text(response)


def test_classify_from_the_page(client, personas, risky_system):
    incident = open_incident(personas["owner"], risky_system)
    client.force_login(personas["risk"])
    response = client.post(f"/incidents/{incident.pk}/classify/", {
        "severity": "critical", "serious_facts": ["critical_infrastructure"],
        "aware_at": incident.aware_at.strftime("%Y-%m-%dT%H:%M:%S")}, follow=True)
    page = _text(response)
    assert "Serious incident." in page and "Art. 73(3)" in page and "Report due in 2 days" in page
    response = client.post(f"/incidents/{incident.pk}/classify/", {"severity": "critical", "aware_at": "soon"},
                           follow=True)
    assert "Aware since: Enter a valid date/time." in _text(response)
