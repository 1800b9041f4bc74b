"""Model cards: templates, versions, immutability (service and database), inert HTML, comparison."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.lib.card_templates import TEMPLATES
from catalog.models import ModelCard
from catalog.services.cards import (
    MODEL_CARD_SECTIONS,
    model_card_draft,
    model_card_publish,
    parse_metric_targets,
)
from clearance.errors import DomainError, InvalidTransition
from clearance.models import AuditEvent

pytestmark = pytest.mark.django_db

SECTIONS = {"model_details": "gpt-4o via Azure", "intended_use": "Summaries for agents", "limitations": "May omit"}


@pytest.fixture
def system(request_in_review):
    return request_in_review.system


def published(system, owner, **sections):
    card = model_card_draft(actor=owner, system=system, **{**SECTIONS, **sections})
    return model_card_publish(actor=owner, card=card)


def test_first_card_starts_from_the_template_of_its_system_type(system, personas):
    card = model_card_draft(actor=personas["owner"], system=system, template="agent")
    assert card.template == "agent"
    assert card.model_details == TEMPLATES["agent"]["model_details"]
    assert {t["metric"] for t in card.metric_targets} == {"task_success_rate", "unsafe_action_rate"}


def test_unknown_template_is_refused_by_name(system, personas):
    with pytest.raises(DomainError) as err:
        model_card_draft(actor=personas["owner"], system=system, template="oracle")
    assert err.value.field == "template" and not ModelCard.objects.exists()


def test_new_version_starts_from_the_last_and_published_stays_unchanged(system, personas):
    owner = personas["owner"]
    v1 = published(system, owner, metric_targets=[{"metric": "f1", "op": ">=", "threshold": 0.8}])
    v2 = model_card_draft(actor=owner, system=system, limitations="Omits attachments")
    assert (v2.version, v2.status) == (2, "draft")
    assert v2.intended_use == "Summaries for agents" and v2.metric_targets == v1.metric_targets
    v1.refresh_from_db()
    assert v1.limitations == "May omit" and v1.status == "published"


def test_service_never_edits_a_published_card(system, personas):
    v1 = published(system, personas["owner"])
    edited = model_card_draft(actor=personas["owner"], system=system, limitations="rewritten")
    assert edited.pk != v1.pk and (edited.version, edited.status, edited.limitations) == (2, "draft", "rewritten")
    assert AuditEvent.objects.get(action="model_card.draft_created", object_id=str(edited.pk)).data["from_version"] == 1
    v1.refresh_from_db()
    assert v1.limitations == "May omit"
    with pytest.raises(InvalidTransition, match="already published"):
        model_card_publish(actor=personas["owner"], card=v1)


def test_database_refuses_update_and_delete_of_a_published_card(system, personas):
    v1 = published(system, personas["owner"])
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelCard.objects.filter(pk=v1.pk).update(limitations="rewritten behind the service's back")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelCard.objects.filter(pk=v1.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_modelcard SET status = 'draft' WHERE id = %s", [v1.pk])
    v1.refresh_from_db()
    assert (v1.status, v1.limitations) == ("published", "May omit")


def test_database_lets_drafts_change(system, personas):
    draft = model_card_draft(actor=personas["owner"], system=system, **SECTIONS)
    assert ModelCard.objects.filter(pk=draft.pk).update(caveats="fine") == 1


def test_publish_is_audited(system, personas):
    v1 = published(system, personas["owner"])
    assert AuditEvent.objects.filter(action="model_card.published", object_id=str(v1.pk)).count() == 1


def test_metric_targets_name_the_bad_line():
    assert parse_metric_targets("f1 >= 0.8\n\nlatency_p95 <= 1200") == [
        {"metric": "f1", "op": ">=", "threshold": 0.8}, {"metric": "latency_p95", "op": "<=", "threshold": 1200.0}]
    with pytest.raises(DomainError, match="line 2"):
        parse_metric_targets("f1 >= 0.8\nf1 about 0.9")


HOSTILE = ('<script>alert("x")</script><img src=x onerror="alert(1)"> <a href="javascript:alert(1)">x</a> '
           '<iframe src="https://evil.example"></iframe> **kept**')


def test_html_in_every_section_renders_inert(client, system, personas):
    card = model_card_draft(actor=personas["owner"], system=system,
                                    **{name: HOSTILE for name in MODEL_CARD_SECTIONS})
    client.force_login(personas["auditor"])
    page = client.get(card.get_absolute_url()).content.decode()
    assert page.count("<strong>kept</strong>") == len(MODEL_CARD_SECTIONS)
    for bad in ("<script>alert", "onerror", "javascript:", "<iframe", "<img"):
        assert bad not in page


def test_edit_form_names_a_bad_threshold_and_saves_nothing(client, system, personas):
    client.force_login(personas["owner"])
    response = client.post(f"/systems/{system.slug}/model-card/", {**SECTIONS, "metric_targets": "f1 is high"})
    assert response.status_code == 200
    assert "write a target as" in response.content.decode()
    assert not ModelCard.objects.exists()


def test_edit_form_with_template_then_publish(client, system, personas):
    client.force_login(personas["owner"])
    form = client.get(f"/systems/{system.slug}/model-card/?template=classifier").content.decode()
    assert "Held-out set" in form
    data = {name: TEMPLATES["classifier"].get(name, "") for name in MODEL_CARD_SECTIONS}
    data.update(template="classifier", metric_targets="f1 >= 0.8", publish="1")
    response = client.post(f"/systems/{system.slug}/model-card/", data)
    card = ModelCard.objects.get(system=system)
    assert response.status_code == 302 and card.status == "published" and card.template == "classifier"


def test_compare_shows_two_versions_side_by_side(client, system, personas):
    owner = personas["owner"]
    published(system, owner)
    model_card_draft(actor=owner, system=system, limitations="May omit\nMisreads tables")
    client.force_login(personas["auditor"])
    page = client.get(f"/systems/{system.slug}/model-card/compare/?a=1&b=2").content.decode()
    assert "v1 (Published)" in page and "v2 (Draft)" in page
    assert '<span class="ins">+ Misreads tables</span>' in page
    assert page.count('class="badge warn">changed') == 1
    assert client.get(f"/systems/{system.slug}/model-card/compare/?a=9").status_code == 404
