"""The engine is pure: facts and a policy in, a verdict out. These tests touch no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clearance.policyfile import PolicyError
from governance.policy import checks
from governance.policy.engine import UnknownEnvironment, evaluate
from governance.policy.facts import ApprovalFact, EvalFact, EvalTarget, SystemFacts
from governance.policy.loader import build_policy

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POLICY_PATH = Path(__file__).resolve().parents[2] / "policies" / "readiness.yaml"


@pytest.fixture(scope="module")
def policy():
    return build_policy(POLICY_PATH, POLICY_PATH.read_bytes())


def ready_facts(**overrides) -> SystemFacts:
    approvals = tuple(
        ApprovalFact(kind, "approved", NOW - timedelta(days=3), NOW + timedelta(days=300), f"{kind}-reviewer")
        for kind in ("security", "legal", "privacy")
    )
    facts = SystemFacts(
        slug="support-copilot",
        risk_tier="high",
        lifecycle_stage="pilot",
        data_categories=("personal",),
        owners={"business": "bob", "technical": "tess", "risk": "rita"},
        published_model_card=2,
        model_card_published_at=NOW - timedelta(days=10),
        approvals=approvals,
        accepted_decisions=1,
        eval_target=EvalTarget("rouge_l", 0.4, True),
        latest_eval=EvalFact("rouge_l", 0.47, NOW - timedelta(days=2), "v3", "tickets-2026", "mlflow", "r1"),
        model_version="v3",
        runbook_url="https://runbooks.example.com/x",
        incidents=(),
    )
    return dataclasses.replace(facts, **overrides)


def statuses(result):
    return {r.id: r.status for r in result.requirements}


def test_a_fully_documented_high_tier_system_passes_production(policy):
    result = evaluate(policy, "production", ready_facts(), NOW)
    assert result.verdict == "pass", [r for r in result.requirements if not r.passing]
    assert set(statuses(result)) == {
        "owners-assigned", "model-card-published", "security-approval", "legal-approval", "privacy-approval",
        "decision-record-accepted", "evaluation-threshold", "runbook-linked", "no-open-serious-incident",
    }
    assert result.policy_version == policy.version and len(policy.version) == 64


@pytest.mark.parametrize(
    ("overrides", "requirement", "status", "words"),
    [
        ({"owners": {"business": "bob", "technical": "tess", "risk": None}}, "owners-assigned", "missing", "risk"),
        ({"inactive_owners": ("rita",)}, "owners-assigned", "missing", "left"),
        ({"published_model_card": None}, "model-card-published", "missing", "no published"),
        ({"approvals": ()}, "security-approval", "missing", "no security review"),
        ({"accepted_decisions": 0}, "decision-record-accepted", "missing", "0 accepted"),
        ({"eval_target": None}, "evaluation-threshold", "missing", "no primary"),
        ({"latest_eval": None}, "evaluation-threshold", "missing", "no rouge_l result for model version v3"),
        ({"runbook_url": ""}, "runbook-linked", "missing", "runbook"),
    ],
)
def test_each_missing_artifact_blocks_with_its_reason(policy, overrides, requirement, status, words):
    result = evaluate(policy, "production", ready_facts(**overrides), NOW)
    assert result.verdict == "block"
    unmet = {r.id: r for r in result.unmet}
    assert unmet[requirement].status == status
    assert words in unmet[requirement].message
    assert unmet[requirement].fix, "an unmet requirement must say what fixes it"


def test_evaluation_below_threshold_fails_and_old_evaluation_is_stale(policy):
    low = dataclasses.replace(ready_facts().latest_eval, value=0.3)
    result = evaluate(policy, "production", ready_facts(latest_eval=low), NOW)
    assert statuses(result)["evaluation-threshold"] == "failed"
    old = dataclasses.replace(ready_facts().latest_eval, observed_at=NOW - timedelta(days=31))
    result = evaluate(policy, "production", ready_facts(latest_eval=old), NOW)
    req = next(r for r in result.requirements if r.id == "evaluation-threshold")
    assert req.status == "stale" and "evidence stale since 2026-10-31" in req.message
    assert result.verdict == "block"


def test_lower_is_better_metrics_compare_the_other_way(policy):
    facts = ready_facts(eval_target=EvalTarget("hallucination_rate", 0.05, False),
                        latest_eval=EvalFact("hallucination_rate", 0.02, NOW, "v3", "", "s", "r"))
    assert statuses(evaluate(policy, "production", facts, NOW))["evaluation-threshold"] == "met"
    facts = dataclasses.replace(facts, latest_eval=EvalFact("hallucination_rate", 0.09, NOW, "v3", "", "s", "r"))
    assert statuses(evaluate(policy, "production", facts, NOW))["evaluation-threshold"] == "failed"


def test_approval_states(policy):
    def with_security(*approvals):
        others = tuple(a for a in ready_facts().approvals if a.kind != "security")
        return ready_facts(approvals=others + approvals)

    expired = ApprovalFact("security", "approved", NOW - timedelta(days=400), NOW - timedelta(days=1), "s")
    rejected = ApprovalFact("security", "rejected", NOW - timedelta(days=1), None, "s")
    reopened = ApprovalFact("security", "open", None, None, "")
    for facts, status in ((with_security(expired), "stale"), (with_security(rejected), "failed"),
                          (with_security(reopened), "missing")):
        assert statuses(evaluate(policy, "production", facts, NOW))["security-approval"] == status


def test_applicability_by_tier_condition_and_environment(policy):
    minimal = ready_facts(risk_tier="minimal", data_categories=("public",), approvals=ready_facts().approvals[:1],
                          accepted_decisions=0, runbook_url="")
    result = evaluate(policy, "production", minimal, NOW)
    assert result.verdict == "pass"
    skipped = {n["id"] for n in result.not_applicable}
    assert {"legal-approval", "privacy-approval", "decision-record-accepted", "runbook-linked"} <= skipped
    staging = evaluate(policy, "staging", ready_facts(runbook_url="", accepted_decisions=0), NOW)
    assert staging.verdict == "pass"
    assert "runbook-linked" not in statuses(staging)
    dev = evaluate(policy, "development", ready_facts(published_model_card=None), NOW)
    assert statuses(dev) == {"owners-assigned": "met"}


def test_unknown_environment_is_an_error_not_a_verdict(policy):
    with pytest.raises(UnknownEnvironment):
        evaluate(policy, "prod", ready_facts(), NOW)


def test_a_check_that_raises_fails_closed(policy, monkeypatch):
    def boom(facts, params, now):
        raise RuntimeError("facts unreadable")

    monkeypatch.setitem(checks.REGISTRY, "model_card_published",
                        checks.CheckType("model_card_published", boom, {"type": "object"}))
    result = evaluate(policy, "production", ready_facts(), NOW)
    assert result.verdict == "block"
    req = next(r for r in result.requirements if r.id == "model-card-published")
    assert req.status == "failed" and "facts unreadable" in req.message


def test_valid_until_is_the_first_moment_something_ages_out(policy):
    result = evaluate(policy, "production", ready_facts(), NOW)
    assert result.valid_until == NOW - timedelta(days=2) + timedelta(days=30)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda t: t.replace("check: approval\n", "check: approvl\n", 1), "unknown check type"),
        (lambda t: t.replace("kind: security", "kind: secrity", 1), "bad parameter"),
        (lambda t: t.replace("inherits: production", "inherits: prod", 1), "inherits unknown environment"),
        (lambda t: t.replace("fact: processes_personal_data", "fact: personal", 1), "unknown fact"),
        (lambda t: t.replace("id: legal-approval", "id: security-approval", 1), "duplicate requirement id"),
        (lambda t: t + "\nunexpected: 1\n", "schema error"),
        (lambda t: t.replace("requirements:", "requirements: [", 1), "not valid YAML"),
    ],
)
def test_policy_errors_name_the_problem(tmp_path, mutation, message):
    path = tmp_path / "readiness.yaml"
    path.write_text(mutation(POLICY_PATH.read_text()))
    with pytest.raises(PolicyError) as info:
        build_policy(path, path.read_bytes())
    assert message in str(info.value)
    assert str(path) in str(info.value)
