"""Evidence decides readiness: metric requirements (dataset, version, age, regression), a sync that
lands evidence recomputes it, and evidence that ages out blocks the gate as stale, never passes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from catalog.models import EvalResult
from catalog.services.evidence import (
    budget_set,
    metric_requirement_set,
    source_create,
    sync_request,
    sync_run_execute,
)
from catalog.services.systems import system_set_evaluation_target, system_update
from governance.choices import RequirementStatus
from governance.policy.checks import eval_threshold
from governance.policy.facts import EvalFact, EvalTarget, SystemFacts
from governance.selectors.facts import collect_facts
from tests.catalog.evidence_helpers import copy_sample, make_system

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def facts(targets, latest, model_version="v3") -> SystemFacts:
    return SystemFacts(slug="s", risk_tier="limited", lifecycle_stage="pilot", data_categories=(), owners={},
                       eval_targets=tuple(targets), eval_latest=tuple(latest), model_version=model_version)


def result(metric="acc", value=0.8, days=1, dataset="arc") -> EvalFact:
    return EvalFact(metric, value, NOW - timedelta(days=days), "v3", dataset, "lm_eval#1", "r1")


def test_regression_beyond_the_allowance_fails_even_above_threshold():
    target = EvalTarget("acc", 0.5, True, baseline=0.80, max_regression=0.02)
    assert eval_threshold(facts([target], [result(value=0.79)]), {"max_age_days": 30}, NOW).status == "met"
    outcome = eval_threshold(facts([target], [result(value=0.77)]), {"max_age_days": 30}, NOW)
    assert outcome.status == RequirementStatus.FAILED
    assert "regressed by 0.03 from the baseline 0.8 (at most 0.02 allowed)" in outcome.message


def test_lower_is_better_regression_goes_up():
    target = EvalTarget("toxicity", 0.1, False, baseline=0.02, max_regression=0.01)
    assert eval_threshold(facts([target], [result("toxicity", 0.05)]), {"max_age_days": 30}, NOW).status == "failed"


def test_the_stricter_maximum_age_applies():
    target = EvalTarget("acc", 0.5, True, max_age_days=7)
    outcome = eval_threshold(facts([target], [result(days=8)]), {"max_age_days": 30}, NOW)
    assert outcome.status == "stale" and "evidence stale since 2026-11-20" in outcome.message
    assert eval_threshold(facts([dataclasses.replace(target, max_age_days=90)], [result(days=31)]),
                          {"max_age_days": 30}, NOW).status == "stale", "the policy's 30 days still bound it"


def test_every_requirement_counts_and_the_worst_decides():
    ok, stale = EvalTarget("acc", 0.5, True), EvalTarget("f1", 0.5, True, dataset="squad")
    outcome = eval_threshold(facts([ok, stale], [result(), result("f1", 0.9, days=40, dataset="squad")]),
                             {"max_age_days": 30}, NOW)
    assert outcome.status == "stale" and outcome.message.startswith("evidence stale since")
    outcome = eval_threshold(facts([ok, stale], [result(), None]), {"max_age_days": 30}, NOW)
    assert outcome.status == "missing" and "no f1 result on squad for model version v3" in outcome.message
    assert [m["metric"] for m in outcome.evidence["metrics"]] == ["acc", "f1"]


@pytest.fixture
def allowed(tmp_path, settings):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    return tmp_path


@pytest.mark.django_db
def test_requirements_select_dataset_and_model_version(allowed, personas):
    system = make_system(personas, model_version="rev-a")
    metric_requirement_set(actor=personas["owner"], system=system, metric="acc", dataset="arc_challenge",
                                    threshold=0.2)
    src = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="arc",
                                 location=str(copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed)),
                                 default_model_version="rev-b")
    run, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=run.pk)
    f = collect_facts(system)
    assert f.eval_targets[0].dataset == "arc_challenge" and f.eval_latest == (None,), "rev-b results do not count for rev-a"
    system_update(actor=personas["owner"], system=system, model_version="rev-b")
    system.refresh_from_db()
    f = collect_facts(system)
    assert f.eval_latest[0] is not None and f.eval_latest[0].value == pytest.approx(0.26621160409556316)
    outcome = eval_threshold(f, {"max_age_days": 3650}, timezone.now())
    assert outcome.status == "met"


@pytest.mark.django_db
def test_primary_metric_and_its_requirement_share_one_threshold(personas):
    system = make_system(personas)
    system_set_evaluation_target(actor=personas["owner"], system=system, metric="acc", threshold=0.5)
    metric_requirement_set(actor=personas["owner"], system=system, metric="acc", threshold=0.6,
                                    max_age_days=7)
    system.refresh_from_db()
    assert system.metric_threshold == 0.6
    system_set_evaluation_target(actor=personas["owner"], system=system, metric="acc", threshold=0.7)
    assert system.metric_requirements.get().threshold == 0.7
    f = collect_facts(system)
    assert len(f.eval_targets) == 1 and f.eval_targets[0].max_age_days == 7


def write_results(path, acc: float, when: datetime) -> None:
    path.write_text(json.dumps({"results": {"arc_challenge": {"alias": "arc_challenge", "acc,none": acc,
                                                               "acc_stderr,none": 0.01}},
                                "model_name": "hf", "date": when.timestamp()}))


@pytest.mark.django_db
def test_synced_evidence_passes_the_gate_and_stale_evidence_blocks_it(allowed, request_in_review, personas, client):
    from clearance.tokens import api_token_create
    from governance.policy.engine import evaluate
    from governance.policy.loader import load_readiness_policy
    from tests.conftest import make_ready

    system = request_in_review.system
    make_ready(system, personas)
    system_set_evaluation_target(actor=personas["owner"], system=system, metric="acc", threshold=0.2)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def gate() -> dict:
        response = client.post("/api/v1/gate/checks", data=json.dumps({"system": system.slug, "environment": "production"}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        body = response.json()
        return {"verdict": body["verdict"], **{r["id"]: r for r in body["requirements"]}}

    assert gate()["evaluation-threshold"]["status"] == "missing"
    path = allowed / "results.json"
    old = timezone.now() - timedelta(days=45)
    write_results(path, 0.6, old)
    src = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="arc", location=str(path))
    run, _ = sync_request(actor=None, source=src)
    assert sync_run_execute(run_id=run.pk) == "succeeded"
    answer = gate()
    assert answer["verdict"] == "block" and answer["evaluation-threshold"]["status"] == "stale"
    assert answer["evaluation-threshold"]["message"].startswith(
        f"evidence stale since {(old + timedelta(days=30)):%Y-%m-%d}")

    fresh = timezone.now() - timedelta(days=1)
    write_results(path, 0.6, fresh)
    run, _ = sync_request(actor=None, source=src)
    assert sync_run_execute(run_id=run.pk) == "succeeded"
    answer = gate()
    assert answer["verdict"] == "pass", answer

    # The source goes away: the run fails readably, the evidence it brought stays...
    path.unlink()
    run, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "does not exist" in run.error
    assert EvalResult.objects.filter(system=system, metric="acc").count() == 2
    assert gate()["verdict"] == "pass"
    # ...until it passes its window: then stale, and the gate blocks.
    later = fresh + timedelta(days=30, seconds=1)
    system.refresh_from_db()
    verdict = evaluate(load_readiness_policy(), "production", collect_facts(system), later)
    req = next(r for r in verdict.requirements if r.id == "evaluation-threshold")
    assert verdict.verdict == "block" and req.status == "stale"
    assert req.message.startswith(f"evidence stale since {(fresh + timedelta(days=30)):%Y-%m-%d}")


# --- cost within budget ----------------------------------------------------------------------------


def test_cost_check_missing_over_and_within_with_tolerance():
    from decimal import Decimal

    from governance.policy.checks import cost_within_budget
    from governance.policy.facts import CostFact

    month = datetime(2026, 11, 1, tzinfo=UTC)
    base = facts([], [])
    assert cost_within_budget(base, {}, NOW).status == "missing"
    over = dataclasses.replace(base, cost=CostFact(Decimal("1000"), "USD", Decimal("1080.5"), month))
    outcome = cost_within_budget(over, {}, NOW)
    assert outcome.status == "failed" and "over the monthly budget of 1000.00 by 80.50" in outcome.message
    assert outcome.valid_until == datetime(2026, 12, 1, tzinfo=UTC), "the spend starts again next month"
    assert cost_within_budget(over, {"tolerance_percent": 10}, NOW).status == "met"


@pytest.mark.django_db
def test_cost_fact_counts_this_month_in_the_budget_currency(allowed, personas):
    from decimal import Decimal

    from catalog.models import CostRecord
    from governance.policy.checks import cost_within_budget

    system = make_system(personas)
    assert collect_facts(system).cost is None
    budget_set(actor=personas["owner"], system=system, monthly_amount="100", currency="USD")
    now = timezone.now()
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for i, (start, cost, currency) in enumerate([(month, "70", "USD"), (month + timedelta(hours=1), "40", "USD"),
                                                 (month - timedelta(days=3), "500", "USD"),
                                                 (month + timedelta(hours=2), "999", "EUR")]):
        CostRecord.objects.create(system=system, period_start=start, period_end=start + timedelta(hours=1),
                                  billed_cost=Decimal(cost), effective_cost=Decimal(cost), currency=currency,
                                  source="t", source_row_id=str(i))
    f = collect_facts(system)
    assert f.cost is not None and f.cost.spent == Decimal("110") and f.cost.currency == "USD"
    assert cost_within_budget(f, {}, now).status == "failed"
