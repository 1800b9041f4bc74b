"""Datasets, vendors, the ownership-gaps report and search (PostgreSQL full text, SQLite fallback)."""

from __future__ import annotations

import importlib
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Dataset, Vendor
from catalog.selectors.gaps import ownership_gaps
from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.registers import dataset_save, vendor_save
from clearance.errors import DomainError, NotAllowed
from clearance.models import AuditEvent
from governance.selectors import search
from governance.services.decisions import decision_record_propose

pytestmark = pytest.mark.django_db


@pytest.fixture
def system(request_in_review):
    return request_in_review.system


def dataset(actor, system=None, **extra):
    fields = {"name": "support-tickets-2024", "source": "Zendesk export", "classification": "confidential",
              "personal_data": True, "personal_data_notes": "Customer names and emails", "retention": "2 years"}
    fields.update(extra)
    return dataset_save(actor=actor, systems=[system] if system else None, **fields)


def test_dataset_datasheet_is_validated_audited_and_linked(system, personas):
    with pytest.raises(DomainError) as err:
        dataset(personas["owner"], personal_data_notes="")
    assert err.value.field == "personal_data_notes" and not Dataset.objects.exists()
    with pytest.raises(DomainError) as err:
        dataset(personas["owner"], classification="secret")
    assert err.value.field == "classification"
    with pytest.raises(NotAllowed):
        dataset(personas["requester"])
    created = dataset(personas["owner"], system)
    assert list(created.systems.all()) == [system]
    with pytest.raises(DomainError, match="already exists"):
        dataset(personas["lead"])
    event = AuditEvent.objects.get(action="dataset.created")
    assert event.data["systems"]["to"] == [system.slug]


def test_vendor_models_offered_and_filters(client, system, personas):
    vendor_save(actor=personas["lead"], systems=[system], name="Azure OpenAI", dpa_status="signed",
                data_residency="EU", models_offered="gpt-4o, gpt-4o-mini", terms_reviewed_on=date(2025, 1, 10))
    vendor_save(actor=personas["lead"], name="Acme Vision", dpa_status="missing", data_residency="US")
    assert Vendor.objects.get(name="Azure OpenAI").models_offered == ["gpt-4o", "gpt-4o-mini"]
    client.force_login(personas["auditor"])
    page = client.get("/vendors/?dpa=signed").content.decode()
    assert "Azure OpenAI" in page and "Acme Vision" not in page
    page = client.get("/vendors/?residency=us").content.decode()
    assert "Acme Vision" in page and "Azure OpenAI" not in page


def test_dataset_list_filters_paginates_and_hides_what_you_cannot_see(client, system, personas):
    for i in range(30):
        dataset(personas["lead"], system if i % 2 else None, name=f"set-{i:02d}", personal_data=False,
                personal_data_notes="", classification="internal" if i % 3 else "public")
    client.force_login(personas["auditor"])
    with CaptureQueriesContext(connection) as ctx:
        first = client.get("/datasets/").content.decode()
    assert "set-00" in first and "set-29" not in first and "page=2" in first
    assert len(ctx.captured_queries) <= 12
    page = client.get("/datasets/?classification=public&page=1").content.decode()
    assert "set-03" in page and "set-01" not in page
    client.force_login(personas["outsider"])
    assert "set-" not in client.get("/datasets/").content.decode()
    hidden = Dataset.objects.get(name="set-02")
    assert client.get(f"/datasets/{hidden.pk}/").status_code == 404


def test_ownership_gaps_report(client, system, personas):
    from catalog.services.systems import system_create

    orphan = system_create(actor=personas["lead"], name="Orphan bot", purpose="p", risk_tier="limited",
                           business_owner=personas["owner"])
    card = model_card_draft(actor=personas["owner"], system=system, model_details="m", intended_use="u",
                                    limitations="l", review_due=timezone.localdate() - timedelta(days=10))
    model_card_publish(actor=personas["owner"], card=card)
    left = personas["legal"]
    dataset(personas["lead"], system, owner=left, review_due=timezone.localdate() - timedelta(days=3))
    left.is_active = False
    left.save()
    risk = personas["risk"]
    risk.is_active = False
    risk.save()
    report = ownership_gaps(personas["lead"], timezone.localdate())
    assert [s.slug for s in report.without_risk_owner] == [orphan.slug]
    assert [(s.slug, role) for s, role, _ in report.inactive_owners] == [(system.slug, "Risk owner")]
    assert [(label, str(obj)) for label, obj, _ in report.inactive_document_owners] == [("Dataset", "support-tickets-2024")]
    assert [label for label, *_ in report.overdue] == ["Model card", "Dataset"]
    client.force_login(personas["lead"])
    page = client.get("/ownership-gaps/").content.decode()
    assert "Orphan bot" in page and "support-tickets-2024" in page and "Risk owner" in page


def test_search_finds_each_kind_and_respects_visibility(client, system, personas, request_in_review):
    model_card_draft(actor=personas["owner"], system=system, model_details="Retrieval over the knowledge base",
                             intended_use="Summarising escalations", limitations="Hallucinates refunds")
    decision_record_propose(actor=personas["owner"], system=system, title="Choose the embedding model",
                            context="Refunds policy questions fail", decision="Use multilingual embeddings")
    hits = search.search(personas["auditor"], "refunds")
    assert [len(hits[k]) for k in ("Model cards", "Decision records")] == [1, 1]
    assert search.search(personas["auditor"], "summaries")["Systems"][0].title == system.name
    assert search.search(personas["auditor"], "ticket threads")["Requests"][0].url == request_in_review.get_absolute_url()
    assert not any(search.search(personas["outsider"], "refunds").values())
    assert search.search(personas["auditor"], "") == {}
    client.force_login(personas["auditor"])
    page = client.get("/search/?q=refunds").content.decode()
    assert "Choose the embedding model" in page and "Hallucinates refunds" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search and its indexes are PostgreSQL's")
def test_postgres_search_uses_the_gin_index_and_stems(system, personas):
    assert search.search(personas["auditor"], "summary")["Systems"]  # stemmed: "summaries" matches
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        qs = search._match(search.AISystem.objects.all(), "catalog_aisystem", "tickets")
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalog_aisystem_search" in plan, plan


def test_search_indexes_cover_exactly_what_the_search_queries():
    """PostgreSQL uses an expression index only when the query repeats its expression: a change to
    the searched columns without a migration that rebuilds the indexes would fall back to scans."""
    migration = importlib.import_module("governance.migrations.0007_search_indexes")
    expected = [f'CREATE INDEX IF NOT EXISTS "{table}_search" ON "{table}" USING GIN '
                f'(({search.document_sql(table, qualified=False)}))' for table in search.DOCUMENTS]
    assert migration.CREATE == expected
    assert migration.DROP == [f'DROP INDEX IF EXISTS "{table}_search"' for table in search.DOCUMENTS]
