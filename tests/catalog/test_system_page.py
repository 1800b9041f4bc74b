"""The system page: every part of one system on one page, in a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import EvalResult
from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.registers import dataset_save, vendor_save
from governance.services.decisions import decision_record_decide, decision_record_propose

pytestmark = pytest.mark.django_db


def grow(system, personas, *, versions: int, decisions: int, evidence: int, offset: int = 0) -> None:
    owner, lead = personas["owner"], personas["lead"]
    for _ in range(versions):
        card = model_card_draft(actor=owner, system=system, model_details="m", intended_use="u",
                                        limitations=f"l{_}")
        model_card_publish(actor=owner, card=card)
    for number in range(decisions):
        record = decision_record_propose(actor=owner, system=system, title=f"D{offset + number}", context="c",
                                         decision="d")
        decision_record_decide(actor=lead, record=record, to="accepted")
    now = timezone.now()
    EvalResult.objects.bulk_create([
        EvalResult(system=system, metric="rouge_l", value=0.5, source="t", source_run_id=f"r{offset}-{i}",
                   observed_at=now - timedelta(minutes=i)) for i in range(evidence)])


def page_queries(client, system) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/systems/{system.slug}/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_query_count_does_not_grow_with_versions_decisions_and_evidence(client, request_in_review, personas):
    system = request_in_review.system
    grow(system, personas, versions=1, decisions=1, evidence=1)
    client.force_login(personas["auditor"])
    small, _ = page_queries(client, system)
    grow(system, personas, versions=49, decisions=99, evidence=2000, offset=1)
    large, page = page_queries(client, system)
    assert large == small, (small, large)
    assert large <= 45
    assert "50 versions in all" in page and "(20 newest of 100)" in page


def test_system_page_shows_owners_documents_registers_and_timeline(client, request_in_review, personas):
    system = request_in_review.system
    grow(system, personas, versions=1, decisions=1, evidence=1)
    dataset_save(actor=personas["lead"], systems=[system], name="tickets-2024", source="Zendesk",
                 classification="confidential")
    vendor_save(actor=personas["lead"], systems=[system], name="Azure OpenAI", dpa_status="signed", data_residency="EU")
    client.force_login(personas["auditor"])
    _, page = page_queries(client, system)
    for expected in ("Technical owner (model quality)", "Risk owner (approves risk)", "watches cost", "tickets-2024",
                     "Azure OpenAI", "DPA signed", "Generate audit dossier", "Model card published",
                     "Decision record accepted", "Review opened"):
        assert expected in page, expected
