"""Acceptances lapse on schedule: the periodic task marks those past their expiry as expired, audits
it, asks for readiness to be recomputed through the outbox, does nothing the second time, and the gate
then blocks the system whose acceptance expired."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from clearance.models import AuditEvent, OutboxMessage
from clearance.tokens import api_token_create
from governance.models import FactsVersion
from governance.policy import loader as policy_loader
from governance.selectors import policy as active
from risks.choices import AcceptanceStatus
from risks.models import RiskAcceptance
from risks.services import acceptances_expire, risk_accept, risk_create
from risks.tasks import expire_acceptances
from tests.risks.risk_helpers import risk_input
from tests.risks.test_gate import POLICY_TESTS
from tests.risks.test_risks_treated import POLICY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Any:
    policy_loader._loader.clear()
    active.clear_cache()
    yield
    policy_loader._loader.clear()
    active.clear_cache()


def test_the_beat_schedule_runs_the_expiry_task(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["expire-risk-acceptances"]
    assert entry["task"] == expire_acceptances.name == "risks.expire_acceptances"
    from clearance.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscovers risks/tasks.py
    assert "risks.expire_acceptances" in app.tasks


def _accepted(personas: dict[str, Any], system: Any, days: int = 30) -> RiskAcceptance:
    owner = personas["owner"]
    risk = risk_create(
        actor=owner,
        systems=[system],
        data=risk_input(
            owner,
            treatment="transfer",
            treatment_rationale="Insurer covers wrongful denials",
            residual_likelihood=3,
            residual_impact=3,
        ),
    )
    return risk_accept(
        actor=personas["risk"],
        risk=risk,
        system=system,
        rationale="Covered by the claims insurer",
        expires_at=timezone.now() + timedelta(days=days),
    )


def _recompute_messages(system: Any) -> int:
    return sum(
        1
        for m in OutboxMessage.objects.filter(task_name="governance.recompute_readiness")
        if m.kwargs.get("system_id") == system.pk
    )


def test_expiry_marks_audits_and_recomputes_once(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    acceptance = _accepted(personas, risky_system)
    later_one = _accepted(personas, risky_system, days=90)
    # Before the expiry nothing happens.
    assert acceptances_expire(now=acceptance.expires_at - timedelta(seconds=1)) == 0
    facts_before = FactsVersion.objects.get(system=risky_system).version
    messages_before = _recompute_messages(risky_system)

    moved = acceptance.expires_at + timedelta(minutes=1)
    assert acceptances_expire(now=moved) == 1
    acceptance.refresh_from_db()
    later_one.refresh_from_db()
    assert acceptance.status == AcceptanceStatus.EXPIRED and acceptance.lapsed_at == moved
    assert later_one.status == AcceptanceStatus.ACTIVE  # not yet due
    event = AuditEvent.objects.filter(action="risk_acceptance.expire").get()
    assert event.actor is None and event.data["system"] == risky_system.slug
    assert event.data["risk"] == acceptance.risk_id
    # The stored verdict stops being current on commit, and a recompute is queued in the outbox.
    assert FactsVersion.objects.get(system=risky_system).version == facts_before + 1
    assert _recompute_messages(risky_system) == messages_before + 1

    # The register page says why it no longer counts.
    client.force_login(personas["owner"])
    page = client.get(f"/systems/{risky_system.slug}/risks/").content.decode()
    assert f"expired on {moved:%Y-%m-%d} (its expiry passed)" in page
    assert "(the scores or treatment changed)" not in page

    # Idempotent: a second run (or a duplicate beat) finds nothing and writes nothing.
    assert acceptances_expire(now=moved) == 0
    assert AuditEvent.objects.filter(action="risk_acceptance.expire").count() == 1
    assert FactsVersion.objects.get(system=risky_system).version == facts_before + 1
    assert _recompute_messages(risky_system) == messages_before + 1


def test_the_task_with_a_moved_clock_then_the_gate_blocks(
    client: Any, personas: dict[str, Any], risky_system: Any, tmp_path: Path, settings: Any
) -> None:
    (tmp_path / "readiness.yaml").write_bytes(POLICY)
    (tmp_path / "readiness.tests.yaml").write_text(POLICY_TESTS)
    for name in ("tiering.yaml", "reviews.yaml"):
        (tmp_path / name).write_text((ROOT / "policies" / name).read_text())
    settings.POLICY_DIR = tmp_path
    call_command("policy", "activate", str(tmp_path / "readiness.yaml"), stdout=StringIO(), stderr=StringIO())
    acceptance = _accepted(personas, risky_system)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def gate() -> dict[str, Any]:
        response = client.post(
            "/api/v1/gate/checks",
            content_type="application/json",
            data=json.dumps({"system": risky_system.slug, "environment": "production"}),
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body

    assert gate()["verdict"] == "pass"
    moved = acceptance.expires_at + timedelta(hours=1)
    with mock.patch("django.utils.timezone.now", return_value=moved):
        assert expire_acceptances() == 1
        assert expire_acceptances() == 0
        body = gate()
    acceptance.refresh_from_db()
    assert acceptance.status == AcceptanceStatus.EXPIRED
    req = body["requirements"][0]
    assert body["verdict"] == "block" and req["id"] == "risks-treated" and req["status"] == "failed"
    assert f"risk {acceptance.risk_id}" in req["message"] and "without a current acceptance" in req["message"]
