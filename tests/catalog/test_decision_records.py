"""Decision records: ADR fields, supersession, snapshot, and protection by the service and the database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.systems import system_set_tier
from clearance.errors import DomainError, InvalidTransition
from clearance.models import AuditEvent
from governance.models import DecisionRecord
from governance.selectors.decisions import decision_chain
from governance.services.decisions import (
    decision_record_decide,
    decision_record_propose,
    decision_record_update,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def system(request_in_review):
    return request_in_review.system


def accepted(system, personas, title="Use gpt-4o", **extra):
    record = decision_record_propose(actor=personas["owner"], system=system, title=title, context="Need summaries",
                                     decision="Use gpt-4o on Azure", options="- gpt-4o\n- self-hosted", **extra)
    return decision_record_decide(actor=personas["lead"], record=record, to="accepted")


def test_accepting_stores_the_facts_it_was_decided_on(system, personas):
    card = model_card_draft(actor=personas["owner"], system=system, model_details="m", intended_use="u",
                                    limitations="l")
    model_card_publish(actor=personas["owner"], card=card)
    record = accepted(system, personas)
    assert record.facts_snapshot["risk_tier"] == system.risk_tier
    assert record.facts_snapshot["model_card_version"] == 1
    assert list(record.deciders.values_list("username", flat=True)) == ["lead"]
    # Later changes to the system do not rewrite the snapshot.
    before = system.risk_tier
    other = "minimal" if before != "minimal" else "limited"
    system_set_tier(actor=personas["lead"], system=system, tier=other, reason="re-tiered")
    record.refresh_from_db()
    assert record.facts_snapshot["risk_tier"] == before != other


def test_service_refuses_to_edit_an_accepted_record(system, personas):
    record = accepted(system, personas)
    with pytest.raises(InvalidTransition, match="cannot be edited; propose a new record that supersedes it"):
        decision_record_update(actor=personas["owner"], record=record, decision="Use Claude")


def test_proposed_record_can_be_edited(system, personas):
    record = decision_record_propose(actor=personas["owner"], system=system, title="t", context="c", decision="d")
    record = decision_record_update(actor=personas["owner"], record=record, decision="d2")
    assert record.decision == "d2"
    with pytest.raises(DomainError, match="decision is required"):
        decision_record_update(actor=personas["owner"], record=record, decision="  ")


@pytest.mark.parametrize("status", ["accepted", "rejected"])
def test_database_refuses_rewriting_or_deleting_a_decided_record(system, personas, status):
    record = decision_record_propose(actor=personas["owner"], system=system, title="t", context="c", decision="d")
    decision_record_decide(actor=personas["lead"], record=record, to=status)
    with pytest.raises(IntegrityError), transaction.atomic():
        DecisionRecord.objects.filter(pk=record.pk).update(decision="quietly changed")
    with pytest.raises(IntegrityError), transaction.atomic():
        DecisionRecord.objects.filter(pk=record.pk).update(status="proposed")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM governance_decisionrecord WHERE id = %s", [record.pk])
    record.refresh_from_db()
    assert (record.status, record.decision) == (status, "d")


def test_database_refuses_a_supersession_that_also_rewrites(system, personas):
    record = accepted(system, personas)
    with pytest.raises(IntegrityError), transaction.atomic():
        DecisionRecord.objects.filter(pk=record.pk).update(status="superseded", title="renamed")


def test_superseded_only_by_a_newer_record_that_names_it(system, personas):
    old = accepted(system, personas)
    new = decision_record_propose(actor=personas["owner"], system=system, title="Move to Claude", context="cost",
                                  decision="Use Claude", supersedes=old)
    old.refresh_from_db()
    assert old.status == "accepted"  # a proposal changes nothing yet
    decision_record_decide(actor=personas["lead"], record=new, to="accepted")
    old.refresh_from_db()
    assert old.status == "superseded"
    assert [r.pk for r in decision_chain(old)] == [old.pk, new.pk]
    assert [r.pk for r in decision_chain(new)] == [old.pk, new.pk]
    assert AuditEvent.objects.filter(action="decision_record.superseded", object_id=str(old.pk)).count() == 1


def test_rejected_or_proposed_records_cannot_be_superseded(system, personas):
    proposed = decision_record_propose(actor=personas["owner"], system=system, title="t", context="c", decision="d")
    with pytest.raises(DomainError, match="only an accepted record can be superseded"):
        decision_record_propose(actor=personas["owner"], system=system, title="t2", context="c", decision="d",
                                supersedes=proposed)


def test_two_proposals_superseding_one_record_one_wins(system, personas):
    old = accepted(system, personas)
    a = decision_record_propose(actor=personas["owner"], system=system, title="A", context="c", decision="A",
                                supersedes=old)
    b = decision_record_propose(actor=personas["owner"], system=system, title="B", context="c", decision="B",
                                supersedes=old)
    decision_record_decide(actor=personas["lead"], record=a, to="accepted")
    with pytest.raises(InvalidTransition, match=f"already superseded by ADR-{a.pk}"):
        decision_record_decide(actor=personas["lead"], record=b, to="accepted")
    b.refresh_from_db()
    assert b.status == "proposed"


def test_decision_page_shows_chain_snapshot_and_inert_markdown(client, system, personas):
    old = accepted(system, personas)
    new = decision_record_propose(actor=personas["owner"], system=system, title="Move", context="<script>x()</script>**why**",
                                  decision="d", supersedes=old)
    decision_record_decide(actor=personas["lead"], record=new, to="accepted")
    client.force_login(personas["auditor"])
    page = client.get(f"/decisions/{new.pk}/").content.decode()
    assert f"ADR-{old.pk}: Use gpt-4o" in page and "Chain of supersession" in page
    assert "<strong>why</strong>" in page and "<script>x()" not in page
    assert "Facts at the decision" in page
    client.force_login(personas["owner"])
    assert client.get(f"/decisions/{new.pk}/edit/").status_code == 403
