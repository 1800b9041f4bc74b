"""The triage board: duplicates flagged, bulk opening and assignment of reviews, and the weekly
agenda as Markdown and PDF."""

from __future__ import annotations

import pytest

from catalog.services.systems import system_create
from governance.models import Review
from intake import services as intake
from intake.similarity import similarity
from tests.conftest import answers

pytestmark = pytest.mark.django_db


def submitted(personas, **overrides):
    req = intake.request_create_draft(requester=personas["requester"], **answers(**overrides))
    intake.request_submit(actor=personas["requester"], request=req)
    req.refresh_from_db()
    return req


def test_similarity_catches_rewordings_and_ignores_unrelated_requests():
    assert similarity("Support ticket summaries", "", "Summaries of support tickets", "") >= 0.4
    assert similarity("Support ticket summarisation", "", "Support ticket summarization", "") >= 0.4
    assert similarity("Support ticket summaries", "Agents read long threads",
                      "Invoice field extraction", "Finance keys in invoice totals") < 0.2


def test_duplicates_of_requests_and_catalog_systems_are_flagged_on_the_board(client, personas):
    system_create(actor=personas["lead"], name="Invoice extractor", slug="invoice-extractor",
                          purpose="Extract fields from supplier invoices", risk_tier="minimal")
    first = submitted(personas, title="Support ticket summaries")
    second = submitted(personas, title="Summaries of support tickets")
    third = submitted(personas, title="Invoice extractor for suppliers", problem="Extract fields from supplier invoices")
    unrelated = submitted(personas, title="Churn predictor", problem="Who will cancel next month")
    assert [m["label"] for m in second.similar] == [first.reference]
    assert any(m["type"] == "system" and m["label"] == "invoice-extractor" for m in third.similar)
    assert unrelated.similar == []
    client.force_login(personas["lead"])
    page = client.get("/triage/?duplicates=1").content.decode()
    assert second.title in page and "invoice-extractor" in page and unrelated.title not in page


def test_bulk_open_and_assign_reviews_reports_requests_that_are_not_ready(client, personas):
    ready = submitted(personas, title="Ready")
    needs_tier = submitted(personas, title="Needs a tier")
    client.force_login(personas["lead"])
    response = client.post("/triage/bulk-reviews/", {
        "requests": [ready.pk, needs_tier.pk], "kinds": ["security", "legal"],
        "assignee_security": personas["security"].pk, "confirm_tier": "",
    }, follow=True)
    page = response.content.decode()
    assert "confirm the risk tier" in page
    assert not Review.objects.exists(), "without a tier neither request gets reviews"
    response = client.post("/triage/bulk-reviews/", {
        "requests": [ready.pk, needs_tier.pk], "kinds": ["security", "legal"],
        "assignee_security": personas["security"].pk, "confirm_tier": "1",
    }, follow=True)
    assert "Reviews opened on 2 requests" in response.content.decode()
    ready.refresh_from_db()
    assert ready.status == "in_review" and ready.risk_tier == ready.suggested_tier
    security = Review.objects.get(request=ready, kind="security")
    assert security.assignee == personas["security"]
    assert Review.objects.get(request=ready, kind="legal").assignee is None


def test_bulk_refuses_an_assignee_without_the_role(client, personas):
    req = submitted(personas, title="Ready")
    client.force_login(personas["lead"])
    response = client.post("/triage/bulk-reviews/", {"requests": [req.pk], "kinds": ["security"],
                                                     "assignee_security": personas["legal"].pk, "confirm_tier": "1"},
                           follow=True)
    assert "legal cannot take it" in response.content.decode()
    assert not Review.objects.exists()
    req.refresh_from_db()
    assert req.status == "submitted", "one transaction per request: nothing half-done"


def test_agenda_exports_markdown_and_pdf(client, personas, request_in_review):
    waiting = submitted(personas, title="Waiting for triage")
    client.force_login(personas["lead"])
    md = client.get("/triage/agenda/?format=md")
    assert md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    assert text.startswith("# Weekly triage agenda") and f"**{waiting.reference} Waiting for triage**" in text
    pdf = client.get("/triage/agenda/?format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert "attachment;" in pdf["Content-Disposition"]
    html = client.get("/triage/agenda/").content.decode()
    assert "Waiting for triage" in html
    client.force_login(personas["security"])
    assert client.get("/triage/agenda/?format=md").status_code == 403
