"""Stored readiness verdicts follow every fact they were built from: each service that changes a fact
asks for a recompute through the outbox in its own transaction, and the periodic consistency sweep
finds and fixes a stored verdict that disagrees with a live evaluation (a change no service made)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

import catalog.tasks  # noqa: F401 - registers the tasks a worker would run
import clearance.tasks  # noqa: F401
import governance.tasks  # noqa: F401
from catalog.services.cards import model_card_draft, model_card_import, model_card_publish
from catalog.services.evidence import (
    budget_set,
    eval_result_record,
    metric_requirement_delete,
    metric_requirement_set,
)
from catalog.services.systems import (
    system_move_lifecycle,
    system_set_evaluation_target,
    system_set_owners,
    system_set_tier,
    system_update,
)
from clearance.celery import app as celery_app
from clearance.models import OutboxMessage
from governance.models import ReadinessVerdict, Review, Waiver
from governance.selectors.readiness import readiness_by_environment
from governance.services.decisions import decision_record_decide, decision_record_propose
from governance.services.readiness import readiness_consistency_sweep, readiness_recompute
from governance.services.reviews import review_decide
from governance.services.waivers import waiver_decide, waiver_request, waiver_revoke, waivers_expire
from intake import services as intake
from tests.catalog.evidence_helpers import sample

pytestmark = pytest.mark.django_db

RECOMPUTE = "governance.recompute_readiness"


def drain_outbox() -> int:
    """Run every open outbox message in this process, as a worker would, until none is left."""
    ran = 0
    for _ in range(20):
        open_messages = list(OutboxMessage.objects.filter(completed_at=None).order_by("pk"))
        if not open_messages:
            return ran
        for message in open_messages:
            celery_app.tasks[message.task_name](**message.kwargs, outbox_id=message.pk)
            ran += 1
    raise AssertionError("the outbox does not drain: " + ", ".join(str(m) for m in open_messages))


def _without_since(requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "since"} for r in requirements]


def assert_stored_matches_live(system: Any, step: str) -> None:
    system.refresh_from_db()
    _, live = readiness_by_environment(system, timezone.now())
    stored = {v.environment: v for v in ReadinessVerdict.objects.filter(system=system)}
    assert set(stored) == set(live), step
    for env, result in live.items():
        assert stored[env].verdict == result.verdict, f"{step}: {env}"
        assert _without_since(stored[env].requirements) == _without_since(
            [r.as_json() for r in result.requirements]), f"{step}: {env} requirements"


def test_every_service_that_changes_a_fact_gets_the_stored_verdict_recomputed(request_in_review, personas):
    system = request_in_review.system
    owner, lead, risk = personas["owner"], personas["lead"], personas["risk"]
    drain_outbox()
    assert_stored_matches_live(system, "start")
    later = timezone.now() + timedelta(days=30)
    state: dict[str, Any] = {}

    def publish_card() -> None:
        model_card_publish(actor=owner, card=model_card_draft(actor=owner, system=system, model_details="m",
                                                              intended_use="u", limitations="l"))

    def accept_decision() -> None:
        record = decision_record_propose(actor=owner, system=system, title="Use gpt-4o", context="c", decision="d")
        decision_record_decide(actor=lead, record=record, to="accepted")

    def request_waiver() -> None:
        state["waiver"] = waiver_request(actor=owner, system=system, requirement="runbook-linked",
                                         justification="The runbook is being rewritten this month.", expires_at=later)
        waiver_decide(actor=risk, waiver=state["waiver"], approve=True)

    def expire_waiver() -> None:
        again = waiver_request(actor=owner, system=system, requirement="runbook-linked",
                               justification="The runbook is being rewritten again.", expires_at=later)
        waiver_decide(actor=risk, waiver=again, approve=True)
        drain_outbox()
        Waiver.objects.filter(pk=again.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert waivers_expire() == 1

    def import_card() -> None:
        content = sample("hf_model_cards/sample_simple_model_index.md").read_bytes()
        model_card_import(actor=owner, system=system, fmt="huggingface", content=content, filename="README.md")

    def decide(kind: str, decision: str) -> Callable[[], None]:
        return lambda: review_decide(actor=personas[kind], review=Review.objects.get(request__system=system, kind=kind),
                                     decision=decision, rationale="Checked.")

    steps: list[tuple[str, Callable[[], None]]] = [
        ("owners removed", lambda: system_set_owners(actor=lead, system=system, business=personas["requester"],
                                                     technical=None, risk=risk)),
        ("owners back", lambda: system_set_owners(actor=lead, system=system, business=personas["requester"],
                                                  technical=owner, risk=risk)),
        ("model card published", publish_card),
        ("evaluation target", lambda: system_set_evaluation_target(actor=owner, system=system, metric="rouge_l",
                                                                   threshold=0.4)),
        ("evaluation result", lambda: eval_result_record(system=system, metric="rouge_l", value=0.47, source="t",
                                                         source_run_id="r1",
                                                         observed_at=timezone.now() - timedelta(days=1))),
        ("metric requirement", lambda: state.update(req=metric_requirement_set(actor=owner, system=system,
                                                                               metric="toxicity", threshold=0.1,
                                                                               higher_is_better=False))),
        ("metric requirement removed", lambda: metric_requirement_delete(actor=owner, requirement=state["req"])),
        ("budget", lambda: budget_set(actor=owner, system=system, monthly_amount=Decimal("100"))),
        ("runbook", lambda: system_update(actor=owner, system=system, runbook_url="https://runbooks.example.com/x")),
        ("security approved", decide("security", "approved")),
        ("decision record accepted", accept_decision),
        ("waiver approved", request_waiver),
        ("waiver revoked", lambda: waiver_revoke(actor=risk, waiver=state["waiver"])),
        ("waiver expired", expire_waiver),
        ("tier", lambda: system_set_tier(actor=lead, system=system, tier="high", reason="Annex III after all")),
        ("new model version (lapses the approval)", lambda: system_update(actor=owner, system=system,
                                                                          model_version="2026-12")),
        ("model card imported with results", import_card),
        ("legal asks for changes", decide("legal", "changes_requested")),
        ("privacy approved", decide("privacy", "approved")),
        ("lifecycle", lambda: system_move_lifecycle(actor=lead, system=system, to="in_development")),
    ]
    for label, change in steps:
        OutboxMessage.objects.filter(task_name=RECOMPUTE).update(completed_at=timezone.now())
        change()
        assert OutboxMessage.objects.filter(task_name=RECOMPUTE, kwargs__system_id=system.pk,
                                            completed_at=None).exists(), f"{label}: no recompute was asked for"
        drain_outbox()
        assert_stored_matches_live(system, label)

    # The resubmission reopens the review that asked for changes through its own follow-up.
    request_in_review.refresh_from_db()
    assert request_in_review.status == "changes_requested"
    intake.request_submit(actor=personas["requester"], request=request_in_review)
    drain_outbox()
    assert Review.objects.get(request__system=system, kind="legal").status == "open"
    assert_stored_matches_live(system, "reviews reopened after resubmission")
    assert readiness_consistency_sweep()["fixed"] == 0


def test_the_consistency_sweep_fixes_what_no_service_announced(request_in_review, personas, caplog):
    system = request_in_review.system
    drain_outbox()
    production = ReadinessVerdict.objects.get(system=system, environment="production")
    assert production.verdict == "block"
    assert readiness_consistency_sweep() == {"checked": 1, "fixed": 0, "failed": 0}

    # Someone deactivated an owner in the admin (no service, no outbox message), and a stored
    # verdict was changed by hand to a pass.
    owner = personas["owner"]
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    ReadinessVerdict.objects.filter(pk=production.pk).update(verdict="pass")
    with caplog.at_level(logging.WARNING, logger="governance.services.readiness"):
        counts = readiness_consistency_sweep()
    assert counts == {"checked": 1, "fixed": 1, "failed": 0}
    assert "support-copilot disagreed with a live evaluation" in caplog.text
    assert "production: stored pass, live block" in caplog.text
    assert "owners-assigned" in caplog.text
    production.refresh_from_db()
    assert production.verdict == "block"
    assert_stored_matches_live(system, "after the sweep")
    assert readiness_consistency_sweep()["fixed"] == 0, "nothing left to fix"


def test_the_sweep_stores_a_verdict_for_a_live_system_that_has_none(request_in_review):
    system = request_in_review.system
    drain_outbox()
    ReadinessVerdict.objects.filter(system=system).delete()
    assert readiness_consistency_sweep()["fixed"] == 1
    assert ReadinessVerdict.objects.filter(system=system).exists()


def test_a_recompute_completes_its_message_in_its_own_transaction(request_in_review):
    system = request_in_review.system
    message = OutboxMessage.objects.filter(task_name=RECOMPUTE, kwargs__system_id=system.pk).first()
    assert message is not None and message.completed_at is None
    readiness_recompute(system_id=system.pk, outbox_id=message.pk)
    message.refresh_from_db()
    assert message.completed_at is not None


def test_the_portfolio_says_which_stored_verdicts_are_being_recomputed(client, request_in_review, personas):
    system = request_in_review.system
    drain_outbox()
    client.force_login(personas["auditor"])
    assert "(recomputing)" not in client.get("/readiness/").content.decode()
    system_update(actor=personas["owner"], system=system, runbook_url="https://runbooks.example.com/y")
    page = client.get("/readiness/").content.decode()
    assert f'{system.name}</a> <span class="muted"' in page and "(recomputing)" in page
    drain_outbox()
    assert "(recomputing)" not in client.get("/readiness/").content.decode()
