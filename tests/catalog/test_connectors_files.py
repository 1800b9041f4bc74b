"""File connectors against the real sample files in tests/samples (lm-evaluation-harness,
promptfoo, FOCUS, OpenAI costs), and their refusals: bad input, paths outside the allowed directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.connectors import CONNECTORS, CostRow, EvalRecord, RowError, SourceConfig, SourceError
from catalog.connectors.base import LocationRefused
from tests.catalog.evidence_helpers import copy_sample


@pytest.fixture
def allowed(tmp_path, settings):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    return tmp_path


def fetch(kind: str, location: str, **options) -> list:
    config = SourceConfig(kind=kind, location=location, system_slug="support-copilot", **options)
    return list(CONNECTORS[kind](config).fetch())


def test_lm_eval_real_results_file(allowed):
    path = copy_sample("lm_eval/results_llama3-8b-instruct_gsm8k_2024-08-25.json", allowed)
    records = fetch("lm_eval", str(path))
    assert all(isinstance(r, EvalRecord) for r in records)
    by_metric = {r.metric: r for r in records}
    assert set(by_metric) == {"exact_match,strict-match", "exact_match,flexible-extract"}, "stderr keys are not metrics"
    strict = by_metric["exact_match,strict-match"]
    assert strict.value == pytest.approx(0.7725549658832449)
    assert strict.dataset == "gsm8k_cot_llama"
    doc = json.loads(path.read_text())
    assert strict.observed_at == datetime.fromtimestamp(doc["date"], tz=UTC)
    assert strict.run_id.endswith(str(doc["date"]))


def test_lm_eval_legacy_file_uses_bare_metric_keys_and_file_time(allowed):
    path = copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed)
    records = fetch("lm_eval", str(path), default_model_version="v7")
    assert {r.metric for r in records} == {"acc", "acc_norm"}
    assert {r.model_version for r in records} == {"v7"}
    assert records[0].observed_at == datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    assert records[0].run_id.startswith("sha256:")


def test_lm_eval_non_numeric_value_is_a_row_error_with_its_path(allowed):
    path = allowed / "results.json"
    path.write_text(json.dumps({"results": {"arc": {"acc,none": "high", "acc_norm,none": 0.5}}, "date": 1724544000.5}))
    records = fetch("lm_eval", str(path))
    errors = [r for r in records if isinstance(r, RowError)]
    assert errors == [RowError("results.arc.acc,none", "'high' is not a number")]
    assert [r.metric for r in records if isinstance(r, EvalRecord)] == ["acc_norm"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"evalId": "x", "results": {}}), "no 'results' object"),
        (json.dumps([1, 2]), "no 'results' object"),
        (json.dumps({"results": {"arc": {"acc": 0.3}}, "date": "yesterday"}), "date: cannot parse 'yesterday'"),
    ],
)
def test_lm_eval_rejects_what_is_not_its_format(allowed, body, message):
    path = allowed / "bad.json"
    path.write_text(body)
    with pytest.raises(SourceError, match=message):
        fetch("lm_eval", str(path))


def test_promptfoo_real_output(allowed):
    path = copy_sample("promptfoo/promptfoo_eval_output_v0.123.1.json", allowed)
    records = fetch("promptfoo", str(path), default_model_version="gpt-4o-2024-08-06")
    by_metric = {r.metric: r for r in records}
    assert by_metric["pass_rate"].value == 0.5, "1 success, 1 failure, 0 errors"
    doc = json.loads(path.read_text())
    assert by_metric["pass_rate"].run_id == doc["evalId"]
    assert by_metric["pass_rate"].observed_at == datetime.fromisoformat(doc["results"]["timestamp"])
    assert by_metric["pass_rate"].model_version == "gpt-4o-2024-08-06"
    assert "score" in by_metric


def test_promptfoo_rejects_lm_eval_json(allowed):
    path = copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed)
    with pytest.raises(SourceError, match="not promptfoo output JSON"):
        fetch("promptfoo", str(path))


def test_promptfoo_unparseable_timestamp_fails(allowed):
    doc = json.loads(copy_sample("promptfoo/promptfoo_eval_output_v0.123.1.json", allowed).read_text())
    doc["results"]["timestamp"] = "21/11/2026 soon"
    path = allowed / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SourceError, match="results.timestamp: cannot parse"):
        fetch("promptfoo", str(path))


def test_focus_real_saas_export_with_bom_and_us_dates(allowed):
    path = copy_sample("focus/virtual_currency_pricing_model_a2.csv", allowed)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = fetch("focus", str(path))
    assert len(rows) == 3 and all(isinstance(r, CostRow) for r in rows)
    first = rows[0]
    assert first.period_start == datetime(2025, 4, 1, tzinfo=UTC) and first.period_end == datetime(2025, 4, 2, tzinfo=UTC)
    assert first.effective_cost == Decimal("490.00") and first.billed_cost == Decimal("0.00")
    assert first.currency == "USD" and first.service == "ACMECORP SERVICE" and first.resource_id == "adbd-12af3-1234"
    assert rows[0].row_id != rows[1].row_id, "different SKUs are different charges"


def test_focus_real_file_missing_a_required_column_fails_the_run(allowed):
    # The commitment-discount scenario in the FOCUS repo has no BillingCurrency column.
    path = copy_sample("focus/commitment_discount_usage_scenario_1.csv", allowed)
    with pytest.raises(SourceError, match="missing required FOCUS column.*BillingCurrency"):
        fetch("focus", str(path))


HEADER = "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,ResourceId,ConsumedQuantity,ConsumedUnit,Tags"


def test_focus_bad_rows_are_skipped_with_row_number_and_reason(allowed):
    path = allowed / "focus.csv"
    path.write_text("\n".join([
        HEADER,
        '1.00,1.00,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r1,1000,Requests,"{""ai_system"": ""support-copilot""}"',
        'abc,1.00,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r2,,,',
        '1.00,1.00,USD,not-a-date,2026-01-02T00:00:00Z,LLM,r3,,,',
        '1.00,1.00,USD,2026-01-03T00:00:00Z,2026-01-02T00:00:00Z,LLM,r4,,,',
        '1.00,1.00,US,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r5,,,',
    ]) + "\n")
    rows = fetch("focus", str(path))
    assert isinstance(rows[0], CostRow) and rows[0].request_count == 1000
    assert [(r.where, r.reason) for r in rows[1:]] == [
        ("row 3", "BilledCost: 'abc' is not a number"),
        ("row 4", "ChargePeriodStart: cannot parse the date 'not-a-date'"),
        ("row 5", "ChargePeriodEnd must be after ChargePeriodStart"),
        ("row 6", "BillingCurrency: 'US' is not an ISO 4217 code"),
    ]


def test_focus_tag_key_keeps_only_this_systems_rows(allowed):
    path = allowed / "focus.csv"
    path.write_text("\n".join([
        HEADER,
        '1.00,1.00,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r1,,,"{""ai_system"": ""support-copilot""}"',
        '2.00,2.00,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r2,,,"{""ai_system"": ""other""}"',
        '3.00,3.00,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r3,,,{broken',
    ]) + "\n")
    rows = fetch("focus", str(path), tag_key="ai_system")
    assert [type(r).__name__ for r in rows] == ["CostRow", "Ignored", "RowError"]
    assert rows[2].where == "row 4" and "Tags is not a JSON object" in rows[2].reason


def test_openai_costs_documented_example(allowed):
    path = copy_sample("cost_apis/openai_organization_costs_response_example.json", allowed)
    rows = fetch("openai_costs", str(path))
    assert len(rows) == 1
    assert rows[0].effective_cost == Decimal("0.06") and rows[0].currency == "USD"
    assert rows[0].period_start == datetime.fromtimestamp(1730419200, tz=UTC)


@pytest.mark.parametrize("kind", ["lm_eval", "promptfoo", "focus", "openai_costs"])
def test_paths_outside_the_allowed_directory_are_refused(allowed, tmp_path_factory, kind):
    outside = tmp_path_factory.mktemp("outside") / "results.json"
    outside.write_text("{}")
    with pytest.raises(LocationRefused, match="outside the allowed directories"):
        fetch(kind, str(outside))
    with pytest.raises(LocationRefused, match="outside the allowed directories"):
        fetch(kind, str(allowed / ".." / outside.parent.name / "results.json"))


def test_a_symlink_out_of_the_allowed_directory_is_refused(allowed, tmp_path_factory):
    secret = tmp_path_factory.mktemp("private") / "passwd.json"
    secret.write_text('{"results": {"x": {"acc": 1}}}')
    link = allowed / "innocent.json"
    link.symlink_to(secret)
    with pytest.raises(LocationRefused):
        fetch("lm_eval", str(link))


def test_relative_paths_and_other_schemes_are_refused(allowed):
    for location in ("results.json", "ftp://example.com/results.json", "file:relative.json"):
        with pytest.raises(LocationRefused):
            fetch("lm_eval", location)
