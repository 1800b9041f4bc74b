"""The gate answers from the stored verdict only while it is current, and is never wrong: whatever
sequence of writing services ran, its answer equals a fresh live evaluation of the same facts."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, run_state_machine_as_test
from hypothesis.stateful import rule as hypothesis_rule

import governance.tasks  # noqa: F401 - registers the tasks a worker would run
from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.evidence import eval_result_record
from catalog.services.systems import (
    system_move_lifecycle,
    system_set_evaluation_target,
    system_set_owners,
    system_update,
)
from clearance.errors import DomainError
from clearance.tokens import api_token_create
from governance.models import UNTRUSTED_FACTS, FactsVersion, GateCheck, ReadinessVerdict, Review, Waiver
from governance.policy.engine import evaluate
from governance.selectors.facts import collect_facts, for_facts
from governance.selectors.policy import active_policy
from governance.services import readiness
from governance.services.decisions import decision_record_decide, decision_record_propose
from governance.services.policy import policy_activate
from governance.services.reviews import review_decide
from governance.services.waivers import waiver_decide, waiver_request, waivers_expire
from tests.conftest import make_ready
from tests.governance.test_readiness_consistency import drain_outbox

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
GATE = "/api/v1/gate/checks"


def ask(client: Client, token: str, environment: str = "production") -> dict[str, Any]:
    response = client.post(GATE, data=json.dumps({"system": "support-copilot", "environment": environment}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return dict(response.json())


def live(slug: str, environment: str) -> tuple[str, str, list[tuple[str, str]]]:
    """A fresh live evaluation: the verdict, the policy version and each requirement's status."""
    from catalog.models import AISystem

    policy = active_policy()
    result = evaluate(policy, environment, collect_facts(for_facts(AISystem.objects.filter(slug=slug)).get()),
                      timezone.now())
    return result.verdict, policy.version, [(r.id, r.status) for r in result.requirements]


def answered(body: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
    return body["verdict"], body["policy"]["version"], [(r["id"], r["status"]) for r in body["requirements"]]


@pytest.fixture
def gate_token(personas: dict[str, Any]) -> str:
    return api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext


def test_a_current_stored_verdict_costs_at_most_three_queries(client, request_in_review, personas, gate_token):
    make_ready(request_in_review.system, personas)
    drain_outbox()  # the recompute each change asked for, as the worker runs it
    stored = ReadinessVerdict.objects.get(system=request_in_review.system, environment="production")
    assert stored.verdict == "pass" and stored.facts_version > 0
    ask(client, gate_token)  # the token enters this process's cache
    with CaptureQueriesContext(connection) as queries:
        body = ask(client, gate_token)
    # Token (cached), the verdict, the record; on PostgreSQL the SET LOCAL of the statement timeout.
    assert len(queries) <= 3, "\n".join(q["sql"] for q in queries.captured_queries)
    # Nothing of the facts is read again: no evidence, reviews, cards or waivers.
    read = " ".join(q["sql"].lower() for q in queries.captured_queries)
    assert not any(table in read for table in ("catalog_evalresult", "governance_review", "catalog_modelcard",
                                               "governance_waiver", "catalog_costrecord"))
    assert answered(body) == live("support-copilot", "production")
    assert GateCheck.objects.filter(pk=body["id"], verdict="pass").exists()


def test_a_fact_change_is_never_answered_from_the_old_verdict(client, request_in_review, personas, gate_token):
    system = request_in_review.system
    make_ready(system, personas)
    drain_outbox()
    assert ask(client, gate_token)["verdict"] == "pass"
    before = FactsVersion.objects.get(system=system).version
    # A failing evaluation lands; the facts version moves in the ingestion's own transaction.
    eval_result_record(system=system, metric="rouge_l", value=0.1, source="test", source_run_id="run-2",
                       observed_at=timezone.now())
    assert FactsVersion.objects.get(system=system).version == before + 1
    body = ask(client, gate_token)  # no recompute has run: the stored pass is not current
    assert body["verdict"] == "block" and answered(body) == live("support-copilot", "production")
    assert "evaluation-threshold" in {r["id"] for r in body["requirements"] if r["status"] != "met"}


def test_unmet_requirements_keep_their_since_when_served_from_the_store(client, request_in_review, gate_token):
    drain_outbox()
    first = {r["id"]: r["since"] for r in ask(client, gate_token)["requirements"] if r["status"] != "met"}
    stored = ReadinessVerdict.objects.get(system=request_in_review.system, environment="production")
    again = {r["id"]: r["since"] for r in ask(client, gate_token)["requirements"] if r["status"] != "met"}
    assert first and again == first
    assert again == {r["id"]: r["since"] for r in stored.requirements if r["status"] != "met"}


def test_a_recompute_that_raises_leaves_no_pass_and_the_gate_says_why(client, request_in_review, personas,
                                                                       gate_token, monkeypatch):
    system = request_in_review.system
    make_ready(system, personas)
    drain_outbox()
    assert ask(client, gate_token)["verdict"] == "pass"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("bug in the engine")

    system_update(actor=personas["owner"], system=system, runbook_url="https://runbooks.example.com/v2")
    monkeypatch.setattr("governance.services.readiness.evaluate", broken)
    with pytest.raises(ZeroDivisionError):
        readiness.readiness_recompute(system_id=system.pk, reason="test")
    for row in ReadinessVerdict.objects.filter(system=system):
        assert row.verdict == "block" and row.facts_version == UNTRUSTED_FACTS
        assert row.requirements[0]["id"] == readiness.RECOMPUTE_FAILED and "bug in the engine" in row.requirements[0]["message"]
    # The gate does not serve that row: it computes live, and blocks with the reason when it cannot.
    monkeypatch.setattr("governance.services.gate.evaluate", broken)
    body = ask(client, gate_token)
    assert body["verdict"] == "block" and body["requirements"][0]["id"] == "evaluation-complete"
    monkeypatch.undo()
    assert ask(client, gate_token)["verdict"] == "pass", "a live evaluation that works answers the truth"
    drain_outbox()  # the retried recompute succeeds and the store is current again
    assert ReadinessVerdict.objects.get(system=system, environment="production").facts_version >= 0


def test_a_verdict_stored_under_another_policy_version_is_not_served(client, request_in_review, personas, gate_token):
    system = request_in_review.system
    make_ready(system, personas)
    drain_outbox()
    ask(client, gate_token)
    ReadinessVerdict.objects.filter(system=system).update(policy_version="0" * 64, verdict="pass")
    body = ask(client, gate_token)
    assert answered(body) == live("support-copilot", "production")
    assert ReadinessVerdict.objects.get(system=system, environment="production").policy_version == active_policy().version


def test_an_owner_deactivated_in_the_admin_is_seen_at_once(client, request_in_review, personas, gate_token):
    system = request_in_review.system
    make_ready(system, personas)
    drain_outbox()
    assert ask(client, gate_token)["verdict"] == "pass"
    risk = personas["risk"]
    risk.is_active = False
    risk.save(update_fields=["is_active"])  # no service, no facts version: the owners key notices
    body = ask(client, gate_token)
    assert body["verdict"] == "block" and answered(body) == live("support-copilot", "production")


# --- never wrong ------------------------------------------------------------------------------------------


def rule(**strategies: Any) -> Any:
    """A hypothesis rule whose service may refuse the step (a domain error writes nothing): the
    step is then a no-op, and the invariant still runs."""
    def wrap(fn: Any) -> Any:
        def step(self: Any, **kwargs: Any) -> None:
            try:
                fn(self, **kwargs)
            except DomainError:
                pass
        step.__name__ = fn.__name__
        return hypothesis_rule(**strategies)(step)
    return wrap


class GateNeverWrong(RuleBasedStateMachine):
    """Random sequences of the writing services; after each, the gate's answer (twice: the first
    may compute and store, the second reads the store) equals a fresh live evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()  # each example starts from the fixtures and is rolled back at the end
        self.shift = timedelta(0)

    @initialize()
    def start(self) -> None:
        self.ctx: dict[str, Any] = CONTEXT
        self.system = self.ctx["system"]
        self.p = self.ctx["personas"]
        self.client = Client()

    def teardown(self) -> None:
        TIME["shift"] = timedelta(0)
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _reload(self) -> Any:
        self.system.refresh_from_db()
        return self.system

    @rule(kind=st.sampled_from(["security", "legal", "privacy"]), days=st.sampled_from([None, 1, 20]))
    def approve(self, kind: str, days: int | None) -> None:
        review = Review.objects.filter(request__system=self.system, kind=kind, status="open").first()
        if review is not None:
            review_decide(actor=self.p[kind], review=review, decision="approved", rationale="Checked.",
                          expires_at=timezone.now() + timedelta(days=days) if days else None)

    @rule(version=st.sampled_from(["v2", "v3"]))
    def change_model(self, version: str) -> None:
        # A material change: approvals pinned to the old model lapse when the worker rechecks them.
        system_update(actor=self.p["owner"], system=self._reload(), model_version=version)

    @rule()
    def publish_card(self) -> None:
        owner = self.p["owner"]
        model_card_publish(actor=owner, card=model_card_draft(actor=owner, system=self._reload(), model_details="m",
                                                              intended_use="u", limitations="l"))

    @rule()
    def accept_decision(self) -> None:
        record = decision_record_propose(actor=self.p["owner"], system=self._reload(), title="Use gpt-4o",
                                         context="c", decision="d")
        decision_record_decide(actor=self.p["lead"], record=record, to="accepted")

    @rule(value=st.sampled_from([0.2, 0.47, 0.9]), age=st.sampled_from([1, 25]))
    def ingest_result(self, value: float, age: int) -> None:
        system = self._reload()
        if system.primary_metric != "rouge_l":
            system_set_evaluation_target(actor=self.p["owner"], system=system, metric="rouge_l", threshold=0.4)
        eval_result_record(system=self._reload(), metric="rouge_l", value=value, source="t",
                           source_run_id=f"r{Waiver.objects.count()}-{value}-{age}",
                           observed_at=timezone.now() - timedelta(days=age))

    @rule(requirement=st.sampled_from(["runbook-linked", "model-card-published", "security-approval"]),
          days=st.sampled_from([1, 10]))
    def add_waiver(self, requirement: str, days: int) -> None:
        system = self._reload()
        if Waiver.objects.filter(system=system, requirement=requirement, status__in=["requested", "approved"]).exists():
            return
        waiver = waiver_request(actor=self.p["owner"], system=system, requirement=requirement,
                                justification="A short, justified exception for this test.",
                                expires_at=timezone.now() + timedelta(days=days))
        waiver_decide(actor=self.p["risk"], waiver=waiver, approve=True)

    @rule()
    def expire_waivers(self) -> None:
        waivers_expire()

    @rule(which=st.sampled_from(["none", "back", "runbook"]))
    def change_owners_or_runbook(self, which: str) -> None:
        system = self._reload()
        if which == "runbook":
            system_update(actor=self.p["owner"], system=system, runbook_url="")
        else:
            system_set_owners(actor=self.p["lead"], system=system, business=self.p["requester"],
                              technical=None if which == "none" else self.p["owner"], risk=self.p["risk"])

    @rule(stage=st.sampled_from(["in_development", "pilot", "production", "retired"]))
    def move_lifecycle(self, stage: str) -> None:
        system_move_lifecycle(actor=self.p["lead"], system=self._reload(), to=stage)

    @rule(which=st.sampled_from(["renamed", "shipped"]))
    def activate_policy(self, which: str) -> None:
        policy_activate(actor=self.p["lead"], path=self.ctx["policies"][which])

    @rule(days=st.sampled_from([2, 11, 21, 40]))
    def advance_time(self, days: int) -> None:
        TIME["shift"] += timedelta(days=days)

    @rule()
    def worker_runs(self) -> None:
        drain_outbox()

    @invariant()
    def gate_equals_live(self) -> None:
        if not hasattr(self, "system"):
            return
        for environment in ("production", "staging"):
            expected = live("support-copilot", environment)
            first = answered(ask(self.client, self.ctx["token"], environment))
            assert first == expected, f"{environment}: first call"
            second = answered(ask(self.client, self.ctx["token"], environment))
            assert second == expected, f"{environment}: second call (from the store when it is current)"


CONTEXT: dict[str, Any] = {}
TIME: dict[str, timedelta] = {"shift": timedelta(0)}


def test_the_gate_is_never_wrong(request_in_review, personas, tmp_path, monkeypatch, settings):
    settings.GATE_RATE_LIMIT = "1000000/min"  # four gate calls a step, many steps
    # A second policy version to activate: the shipped file under another name, with its tests.
    for name in ("readiness.yaml", "readiness.tests.yaml", "tiering.yaml", "reviews.yaml"):
        shutil.copy(ROOT / "policies" / name, tmp_path / name)
    renamed = tmp_path / "readiness.yaml"
    renamed.write_text(renamed.read_text().replace("name: default", "name: default-renamed", 1))
    CONTEXT.clear()
    CONTEXT.update(system=request_in_review.system, personas=personas,
                   # The lead's token: the gate must keep answering when the owners change.
                   token=api_token_create(user=personas["lead"], name="ci", scopes=["gate:check"]).plaintext,
                   policies={"renamed": renamed, "shipped": Path(django_settings.POLICY_DIR) / "readiness.yaml"})
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + TIME["shift"])
    run_state_machine_as_test(GateNeverWrong, settings=hsettings(
        max_examples=20, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


def test_the_token_cache_holds_a_revocation_elsewhere_for_its_window_only(client, request_in_review, personas,
                                                                          gate_token, monkeypatch):
    from clearance import tokens
    from clearance.models import ApiToken

    drain_outbox()
    ask(client, gate_token)
    # Revoked by another process (here: straight in the database): this one still has it cached...
    ApiToken.objects.update(revoked_at=timezone.now())
    ask(client, gate_token)
    # ...until GATE_TOKEN_CACHE_SECONDS have passed.
    later = tokens.time.monotonic() + django_settings.GATE_TOKEN_CACHE_SECONDS + 1
    monkeypatch.setattr(tokens.time, "monotonic", lambda: later)
    response = client.post(GATE, data=json.dumps({"system": "support-copilot", "environment": "production"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {gate_token}")
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_revocation_in_this_process_takes_effect_at_once(client, request_in_review, personas, gate_token):
    from clearance.models import ApiToken
    from clearance.tokens import api_token_revoke

    drain_outbox()
    ask(client, gate_token)
    api_token_revoke(token=ApiToken.objects.get(), actor=personas["owner"])
    response = client.post(GATE, data=json.dumps({"system": "support-copilot", "environment": "production"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {gate_token}")
    assert response.status_code == 401


def test_a_stored_pass_is_not_served_past_its_valid_until(client, request_in_review, personas, gate_token,
                                                          monkeypatch):
    make_ready(request_in_review.system, personas)  # the evaluation result is two days old; max age 30
    drain_outbox()
    assert ask(client, gate_token)["verdict"] == "pass"
    stored = ReadinessVerdict.objects.get(system=request_in_review.system, environment="production")
    assert stored.valid_until is not None
    moment = stored.valid_until + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    body = ask(client, gate_token)  # nothing changed but the clock
    assert body["verdict"] == "block" and answered(body) == live("support-copilot", "production")
