"""Waivers: requested by an owner, approved by the risk owner, visible in every verdict they affect,
expiring by themselves, audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.permissions import can_edit_system
from catalog.services.systems import system_set_evaluation_target
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.models import AuditEvent, OutboxMessage
from clearance.tokens import api_token_create
from governance.models import ReadinessVerdict, Waiver
from governance.services.readiness import readiness_recompute
from governance.services.waivers import waiver_decide, waiver_request, waiver_revoke, waivers_expire
from tests.conftest import make_ready

BODY = {"system": "support-copilot", "environment": "production", "version": "1.4.2", "commit": "abc123"}
WHY = "The new evaluation set lands next sprint; the current score is accepted by the risk owner."


def gate(client, personas) -> dict:
    token = api_token_create(user=personas["owner"], name="ci-prod", scopes=["gate:check"]).plaintext
    response = client.post("/api/v1/gate/checks", data=json.dumps(BODY), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def unready(request_in_review, personas):
    """Ready for production except the evaluation: its result is under a raised threshold."""
    system = request_in_review.system
    make_ready(system, personas)
    system_set_evaluation_target(actor=personas["owner"], system=system, metric="rouge_l", threshold=0.9)
    system.refresh_from_db()
    return system


def approved_waiver(system, personas, days=10):
    waiver = waiver_request(actor=personas["owner"], system=system, requirement="evaluation-threshold",
                            justification=WHY, expires_at=timezone.now() + timedelta(days=days))
    return waiver_decide(actor=personas["risk"], waiver=waiver, approve=True, note="ok for two weeks")


@pytest.mark.django_db
def test_an_approved_waiver_turns_the_requirement_waived_in_the_gate_and_readiness(client, unready, personas):
    assert gate(client, personas)["verdict"] == "block"
    waiver = approved_waiver(unready, personas)
    body = gate(client, personas)
    assert body["verdict"] == "pass"
    runbook = next(r for r in body["requirements"] if r["id"] == "evaluation-threshold")
    assert runbook["status"] == "waived"
    assert f"waived by risk until {waiver.expires_at:%Y-%m-%d}" in runbook["message"] and WHY in runbook["message"]
    assert runbook["evidence"]["waiver"] == {
        "id": waiver.pk, "approved_by": "risk", "expires_at": waiver.expires_at.isoformat(),
        "justification": WHY, "underlying_status": "failed"}
    assert runbook["fix_url"] is None
    readiness_recompute(system_id=unready.pk)
    stored = ReadinessVerdict.objects.get(system=unready, environment="production")
    assert stored.verdict == "pass" and stored.valid_until <= waiver.expires_at
    client.force_login(personas["auditor"])
    page = client.get("/systems/support-copilot/").content.decode()
    assert f'id="waiver-{waiver.pk}"' in page and WHY in page
    actions = list(AuditEvent.objects.filter(object_id=str(waiver.pk)).values_list("action", flat=True))
    assert {"waiver.requested", "waiver.approved"} <= set(actions)
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness",
                                        kwargs__reason=f"waiver #{waiver.pk} approved").exists()


@pytest.mark.django_db
def test_a_waiver_expires_by_itself(client, unready, personas, monkeypatch):
    waiver = approved_waiver(unready, personas)
    assert gate(client, personas)["verdict"] == "pass"
    # Time passes: the clock moves past the waiver's end. (Moving the waiver's end back in the
    # database instead is a change no service makes: the gate's stored verdict, valid until the
    # waiver's end, would not see it until the consistency sweep.)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(days=10, seconds=1))
    body = gate(client, personas)  # the engine ignores it at once, before any sweep
    assert body["verdict"] == "block"
    assert next(r for r in body["requirements"] if r["id"] == "evaluation-threshold")["status"] == "failed"
    assert waivers_expire() == 1 and waivers_expire() == 0
    waiver.refresh_from_db()
    assert waiver.status == "expired"
    assert AuditEvent.objects.filter(action="waiver.expired", object_id=str(waiver.pk)).exists()
    assert OutboxMessage.objects.filter(kwargs__reason=f"waiver #{waiver.pk} expired").exists()


@pytest.mark.django_db
def test_only_the_risk_owner_approves_and_never_their_own_request(unready, personas):
    waiver = waiver_request(actor=personas["owner"], system=unready, requirement="evaluation-threshold",
                            justification=WHY, expires_at=timezone.now() + timedelta(days=5))
    for persona in ("owner", "lead", "security"):
        with pytest.raises(NotAllowed, match="risk owner"):
            waiver_decide(actor=personas[persona], waiver=waiver, approve=True)
    with pytest.raises(DomainError, match="say why"):
        waiver_decide(actor=personas["risk"], waiver=waiver, approve=False)
    waiver_decide(actor=personas["risk"], waiver=waiver, approve=False, note="fix the runbook instead")
    with pytest.raises(InvalidTransition):
        waiver_decide(actor=personas["risk"], waiver=waiver, approve=True)
    own = waiver_request(actor=personas["risk"], system=unready, requirement="evaluation-threshold",
                         justification=WHY, expires_at=timezone.now() + timedelta(days=5)) \
        if can_edit_system(personas["risk"], unready) else None
    if own is not None:
        with pytest.raises(NotAllowed, match="four eyes"):
            waiver_decide(actor=personas["risk"], waiver=own, approve=True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"requirement": "no-such-thing"}, "requirement", "no requirement 'no-such-thing'"),
        ({"justification": "because"}, "justification", "at least 20 characters"),
        ({"expires_at": -1}, "expires_at", "in the future"),
        ({"expires_at": 91}, "expires_at", "at most 90 days"),
    ],
)
def test_a_bad_waiver_request_names_the_field(unready, personas, changes, field, message):
    args = {"requirement": "evaluation-threshold", "justification": WHY, "expires_at": 10, **changes}
    args["expires_at"] = timezone.now() + timedelta(days=args["expires_at"])
    with pytest.raises(DomainError, match=message) as info:
        waiver_request(actor=personas["owner"], system=unready, **args)
    assert info.value.field == field
    assert not Waiver.objects.exists()


@pytest.mark.django_db
def test_outsiders_cannot_request_and_one_live_waiver_per_requirement(unready, personas):
    with pytest.raises(NotAllowed):
        waiver_request(actor=personas["security"], system=unready, requirement="evaluation-threshold",
                       justification=WHY, expires_at=timezone.now() + timedelta(days=5))
    approved_waiver(unready, personas)
    with pytest.raises(DomainError, match="already approved"):
        waiver_request(actor=personas["owner"], system=unready, requirement="evaluation-threshold",
                       justification=WHY, expires_at=timezone.now() + timedelta(days=5))


@pytest.mark.django_db
def test_revoking_restores_the_block(client, unready, personas):
    waiver = approved_waiver(unready, personas)
    with pytest.raises(NotAllowed):
        waiver_revoke(actor=personas["security"], waiver=waiver)
    waiver_revoke(actor=personas["lead"], waiver=waiver, note="runbook is back")
    assert gate(client, personas)["verdict"] == "block"
    assert AuditEvent.objects.filter(action="waiver.revoked", object_id=str(waiver.pk)).exists()


@pytest.mark.django_db
def test_the_waiver_pages(client, unready, personas):
    client.force_login(personas["owner"])
    form = client.get("/systems/support-copilot/waivers/new/?requirement=evaluation-threshold")
    assert form.status_code == 200 and "evaluation-threshold" in form.content.decode()
    bad = client.post("/systems/support-copilot/waivers/new/",
                      {"requirement": "evaluation-threshold", "valid_until": "2000-01-01", "justification": WHY})
    assert bad.status_code == 400 and "the expiry must be in the future" in bad.content.decode()
    until = (timezone.now() + timedelta(days=7)).date().isoformat()
    done = client.post("/systems/support-copilot/waivers/new/",
                       {"requirement": "evaluation-threshold", "valid_until": until, "justification": WHY})
    assert done.status_code == 302 and done["Location"].endswith("/systems/support-copilot/#waivers")
    waiver = Waiver.objects.get()
    assert waiver.status == "requested" and waiver.expires_at.date().isoformat() == until
    client.force_login(personas["risk"])
    page = client.get("/systems/support-copilot/").content.decode()
    assert f'action="/waivers/{waiver.pk}/decide/"' in page
    client.post(f"/waivers/{waiver.pk}/decide/", {"decision": "approve", "note": ""})
    waiver.refresh_from_db()
    assert waiver.status == "approved" and waiver.decided_by == personas["risk"]
    client.force_login(personas["owner"])
    assert client.post(f"/waivers/{waiver.pk}/decide/", {"decision": "reject"}).status_code == 403
    client.force_login(personas["lead"])
    client.post(f"/waivers/{waiver.pk}/revoke/")
    waiver.refresh_from_db()
    assert waiver.status == "revoked"
    client.force_login(personas["outsider"])
    assert client.post(f"/waivers/{waiver.pk}/revoke/").status_code == 404


@pytest.mark.django_db
def test_gate_history_on_the_system_page(client, unready, personas, django_assert_max_num_queries):
    assert gate(client, personas)["verdict"] == "block"
    approved_waiver(unready, personas)
    passed = gate(client, personas)
    client.force_login(personas["auditor"])
    page = client.get("/systems/support-copilot/").content.decode()
    assert 'id="gate-history"' in page and "Last deployed with a pass" in page
    assert "ci-prod" in page and "1.4.2" in page and passed["policy"]["version"][:12] in page
    for _ in range(30):
        gate(client, personas)
    # 30 gate calls later the page still reads a fixed number of queries; the facts snapshot it shows
    # now also reads the incident register and the compliance facts (operator role, attestations).
    with django_assert_max_num_queries(43):
        client.get("/systems/support-copilot/")
    filtered = client.get("/systems/support-copilot/?gate_env=staging").content.decode()
    assert "No gate calls for staging yet." in filtered
