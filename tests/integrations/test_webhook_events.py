"""Each event kind is emitted where it happens, in the transaction of the change: submitted requests,
decided reviews, lapsed approvals, production gate blocks, evidence gone stale. An event reaches only
the webhooks subscribed to its kind, and a change that rolls back reports nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import EvalResult
from catalog.services.systems import system_update
from clearance.models import OutboxMessage
from clearance.tokens import api_token_create
from governance.models import Review
from governance.services.readiness import readiness_recompute
from governance.services.reviews import review_decide
from governance.tasks import recompute_readiness
from intake import services as intake
from integrations.choices import EventKind
from integrations.events import emit
from integrations.models import Delivery, WebhookEvent
from tests.conftest import answers, make_ready
from tests.integrations.conftest import hook

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_webhooks")]

URL = "http://127.0.0.1:9/never-called"


def kinds() -> list[str]:
    return list(WebhookEvent.objects.order_by("pk").values_list("kind", flat=True))


def test_submitting_a_request_emits_request_submitted(admin, personas):
    webhook, _ = hook(admin, URL, events=["request.submitted"])
    req = intake.request_create_draft(requester=personas["requester"], **answers(title="Claims <triage> & routing"))
    intake.request_submit(actor=personas["requester"], request=req)
    event = WebhookEvent.objects.get()
    assert event.kind == "request.submitted" and event.actor == personas["requester"]
    assert event.payload["reference"] == req.reference and event.payload["title"] == "Claims <triage> & routing"
    assert event.subject_url.endswith(req.get_absolute_url())
    delivery = Delivery.objects.get(event=event)
    assert delivery.webhook == webhook and delivery.status == "pending"
    assert OutboxMessage.objects.filter(task_name="integrations.deliver_webhook",
                                        kwargs__delivery_id=delivery.pk).exists()


def test_deciding_a_review_emits_review_decided(admin, personas, request_in_review):
    hook(admin, URL, events=["review.decided"])
    review = Review.objects.get(request=request_in_review, kind="security")
    review_decide(actor=personas["security"], review=review, decision="approved", rationale="EU tenant only.")
    event = WebhookEvent.objects.get()
    assert event.kind == "review.decided" and event.payload["decision"] == "approved"
    assert event.payload["request"] == request_in_review.reference and "EU tenant only." in event.summary
    json.dumps(event.payload)  # stored JSON-able: the expiry became a string


def test_a_lapsed_approval_emits_approval_lapsed(admin, personas, request_in_review):
    system = request_in_review.system
    system_update(actor=personas["owner"], system=system, model_name="gpt-4o", model_version="2024-08-06")
    for review in Review.objects.filter(request=request_in_review, status="open"):
        review_decide(actor=personas[review.kind], review=review, decision="approved", rationale="ok")
    hook(admin, URL, events=["approval.lapsed"])
    system_update(actor=personas["owner"], system=system, model_version="2024-11-20")
    recompute_readiness(system_id=system.pk, reason="settings changed")
    events = WebhookEvent.objects.all()
    assert {e.kind for e in events} == {"approval.lapsed"} and events.count() == 3
    assert {e.payload["review_kind"] for e in events} == {"security", "legal", "privacy"}
    assert all(e.actor is None and e.payload["changed"] for e in events)


def _gate(client: Any, token: str, environment: str) -> str:
    response = client.post("/api/v1/gate/checks", content_type="application/json",
                           data=json.dumps({"system": "support-copilot", "environment": environment,
                                            "version": "1.4.2"}),
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return str(response.json()["verdict"])


def test_the_gate_blocking_production_emits_gate_blocked_but_not_staging_or_a_pass(
        admin, personas, request_in_review, client):
    hook(admin, URL, events=["gate.blocked"])
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    assert _gate(client, token, "staging") == "block"
    assert kinds() == []
    assert _gate(client, token, "production") == "block"
    event = WebhookEvent.objects.get()
    assert event.kind == "gate.blocked" and event.payload["environment"] == "production"
    assert event.payload["version"] == "1.4.2" and event.payload["unmet"]
    assert event.subject_repr == str(request_in_review.system)
    make_ready(request_in_review.system, personas)
    assert _gate(client, token, "production") == "pass"
    assert WebhookEvent.objects.count() == 1


def test_evidence_going_stale_emits_evidence_stale_once(admin, personas, request_in_review):
    system = request_in_review.system
    make_ready(system, personas)
    readiness_recompute(system_id=system.pk)
    hook(admin, URL, events=["evidence.stale"])
    EvalResult.objects.filter(system=system).update(observed_at=timezone.now() - timedelta(days=1000))
    readiness_recompute(system_id=system.pk, reason="evidence aged out")
    event = WebhookEvent.objects.get()
    assert event.kind == "evidence.stale" and "evaluation-threshold" in event.payload["requirements"]
    assert "stale" in event.summary
    readiness_recompute(system_id=system.pk, reason="again")
    assert WebhookEvent.objects.count() == 1, "still stale is not news"


def test_only_subscribed_active_webhooks_get_a_delivery(admin, personas):
    wanted, _ = hook(admin, URL, name="wants it", events=["request.submitted"])
    hook(admin, URL, name="other kinds", events=["review.decided"])
    hook(admin, URL, name="switched off", events=["request.submitted"], active=False)
    req = intake.request_create_draft(requester=personas["requester"], **answers())
    intake.request_submit(actor=personas["requester"], request=req)
    assert list(Delivery.objects.values_list("webhook__name", flat=True)) == [wanted.name]


def test_with_no_webhook_subscribed_emit_costs_one_query_and_writes_nothing(admin):
    hook(admin, URL, events=["review.decided"])
    with CaptureQueriesContext(connection) as queries:
        assert emit(kind=EventKind.REQUEST_SUBMITTED, subject=admin, payload={"x": 1}) is None
    assert len(queries) == 1
    assert not WebhookEvent.objects.exists()


def test_a_change_that_rolls_back_reports_nothing(admin, personas):
    hook(admin, URL, events=["request.submitted"])
    req = intake.request_create_draft(requester=personas["requester"], **answers())

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        intake.request_submit(actor=personas["requester"], request=req)
        assert WebhookEvent.objects.count() == 1
        raise Abort
    assert not WebhookEvent.objects.exists() and not Delivery.objects.exists()
    assert not OutboxMessage.objects.filter(task_name="integrations.deliver_webhook").exists()


def test_a_broken_payload_never_fails_the_change(admin, personas, caplog):
    hook(admin, URL, events=["incident.opened"])
    with transaction.atomic():
        assert emit(kind=EventKind.INCIDENT_OPENED, subject=admin, payload={"bad": object()}) is None
        req = intake.request_create_draft(requester=personas["requester"], **answers())
    assert req.pk and "could not record the incident.opened event" in caplog.text


def test_the_incident_kind_can_be_emitted_for_any_subject(admin, personas):
    hook(admin, URL, events=["incident.opened"])
    event = emit(kind="incident.opened", subject=personas["owner"], actor=admin, summary="Model leaked a prompt",
                 payload={"severity": "high", "opened_at": timezone.now()})
    assert event is not None and event.kind == EventKind.INCIDENT_OPENED
    assert isinstance(event.payload["opened_at"], str) and event.subject_type == "auth.user"
    with pytest.raises(ValueError):
        emit(kind="incident.closed", subject=None)


def test_reporting_an_incident_emits_incident_opened(admin, personas):
    from catalog.services.systems import system_create
    from tests.risks.incident_helpers import open_incident

    hook(admin, URL, events=["incident.opened"])
    system = system_create(actor=personas["lead"], name="Claims triage", purpose="Route insurance claims",
                           risk_tier="high", technical_owner=personas["owner"], risk_owner=personas["risk"])
    incident = open_incident(personas["owner"], system, serious_facts=["health"])
    event = WebhookEvent.objects.get()
    assert event.kind == "incident.opened" and event.actor == personas["owner"]
    assert event.payload["reference"] == incident.reference and event.payload["systems"] == [system.slug]
    assert event.payload["serious"] is True and event.payload["report_due"]
    assert event.subject_url.endswith(incident.get_absolute_url())
    assert Delivery.objects.filter(event=event, status="pending").count() == 1


def test_an_incident_that_is_refused_reports_nothing(admin, personas):
    from catalog.services.systems import system_create
    from tests.risks.incident_helpers import open_incident

    hook(admin, URL, events=["incident.opened"])
    system = system_create(actor=personas["lead"], name="Claims triage", purpose="Route insurance claims",
                           risk_tier="high", technical_owner=personas["owner"])
    with pytest.raises(ValidationError):
        open_incident(personas["owner"], system, title="")
    assert not WebhookEvent.objects.exists() and not Delivery.objects.exists()
