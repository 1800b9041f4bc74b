"""Evidence files and server answers built to hurt, each taken from a real sample with one part
changed: a run lands what is good and skips the rest with the reason, or fails with the reason;
never an "internal error", never a row that does not fit its column, never a report that cannot
be stored (PostgreSQL refuses NUL characters in text and JSON)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.models import CostRecord, EvalResult, EvidenceSource, SyncRun
from catalog.services.evidence import source_create, sync_request, sync_run_execute
from tests.catalog.evidence_helpers import make_system, sample

pytestmark = pytest.mark.django_db

LM_EVAL = json.loads(sample("lm_eval/results_llama3-8b-instruct_gsm8k_2024-08-25.json").read_text())
OPENAI = json.loads(sample("cost_apis/openai_organization_costs_response_example.json").read_text())
PROMPTFOO = json.loads(sample("promptfoo/promptfoo_eval_output_v0.123.1.json").read_text())
MLFLOW_RUNS = json.loads(sample("mlflow/runs_search_response.json").read_text())
MLFLOW_HISTORY = json.loads(sample("mlflow/metrics_get_history_response.json").read_text())
FOCUS_HEADER = "ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency,ServiceName\n"


@pytest.fixture
def allowed(tmp_path: Path, settings: Any) -> Path:
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]
    return tmp_path


@pytest.fixture
def system(personas: dict[str, Any]) -> Any:
    return make_system(personas)


def run_file(system: Any, personas: dict[str, Any], kind: str, path: Path, content: str | dict[str, Any]) -> SyncRun:
    text = content if isinstance(content, str) else json.dumps(content)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return run_source(source_create(actor=personas["owner"], system=system, kind=kind, name=kind, location=str(path)))


def run_source(src: EvidenceSource) -> SyncRun:
    run, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert not run.error.startswith("internal error"), run.error
    return run


def lm_eval_with(**changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(LM_EVAL))
    doc.update(changes)
    return doc


def test_lm_eval_names_with_nul_or_500_characters_are_skipped_with_the_reason(allowed, system, personas):
    task = next(iter(LM_EVAL["results"]))
    results = {task: LM_EVAL["results"][task], "ta\x00sk": {"acc,none": "high"},
               "long": {"m" * 500 + ",none": 0.5, "acc\x00,none": 0.5}}
    run = run_file(system, personas, "lm_eval", allowed / "results.json", lm_eval_with(results=results))
    assert run.status == "succeeded" and run.rows_added == 2
    reasons = {e["reason"] for e in run.row_errors}
    assert "metric has at most 100 characters (500 here)" in reasons
    assert "metric contains a NUL character" in reasons
    assert {e["row"] for e in run.row_errors} >= {"results.ta\\x00sk.acc,none"}  # stored, escaped
    assert all(len(r.metric) <= 100 and "\x00" not in r.metric for r in EvalResult.objects.all())


@pytest.mark.parametrize("date", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", 1e300, float("nan")])
def test_lm_eval_dates_outside_the_calendar_fail_the_run_readably(allowed, system, personas, date):
    run = run_file(system, personas, "lm_eval", allowed / "results.json", lm_eval_with(date=date))
    assert run.status == "failed" and run.error.startswith("date: cannot parse")
    assert not EvalResult.objects.exists()


def test_json_nested_past_the_limit_fails_the_run(allowed, system, personas):
    text = json.dumps(LM_EVAL)[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
    run = run_file(system, personas, "lm_eval", allowed / "results.json", text)
    assert run.status == "failed" and "nested deeper than 64 levels" in run.error


def test_promptfoo_scores_whose_mean_overflows_are_refused(allowed, system, personas):
    doc = json.loads(json.dumps(PROMPTFOO))
    for result in doc["results"]["results"]:
        result["score"] = 1.7e308
    run = run_file(system, personas, "promptfoo", allowed / "out.json", doc)
    assert run.status == "succeeded"
    assert "value inf is not a finite number" in [e["reason"] for e in run.row_errors]
    assert set(EvalResult.objects.values_list("metric", flat=True)) == {"pass_rate"}


def test_openai_costs_with_results_not_a_list_and_amounts_past_the_column(allowed, system, personas):
    doc = json.loads(json.dumps(OPENAI))
    bucket = doc["data"][0]
    doc["data"] = [
        {**bucket, "results": 5},
        {**bucket, "start_time": bucket["start_time"] + 86400, "end_time": bucket["end_time"] + 86400,
         "results": [{**bucket["results"][0], "amount": {"value": 1e400, "currency": "usd"}}]},
        {**bucket, "start_time": bucket["start_time"] + 172800, "end_time": bucket["end_time"] + 172800,
         "results": [{**bucket["results"][0], "amount": {"value": "1E+13", "currency": "usd"}}]},
        bucket,
    ]
    run = run_file(system, personas, "openai_costs", allowed / "costs.json", doc)
    assert run.status == "succeeded" and run.rows_added == 1
    reasons = [e["reason"] for e in run.row_errors]
    assert reasons[0] == "is not a list of results"
    assert any("is not a number" in r for r in reasons)  # 1e400 does not parse to a finite Decimal
    assert "billed cost 1E+13 is not an amount below 1,000,000,000,000" in reasons
    assert CostRecord.objects.count() == 1


def test_focus_dates_outside_the_calendar_are_skipped_rows(allowed, system, personas):
    rows = ("0001-01-01T00:00:00+14:00,2024-01-02T00:00:00Z,1.00,1.00,USD,a\n"
            "2024-01-01T00:00:00Z,9999-12-31T23:59:59-14:00,1.00,1.00,USD,b\n"
            "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,1.00,1.00,USD,c\n")
    run = run_file(system, personas, "focus", allowed / "focus.csv", FOCUS_HEADER + rows)
    assert run.status == "succeeded" and run.rows_added == 1
    assert [e["reason"] for e in run.row_errors] == [
        "ChargePeriodStart: cannot parse the date '0001-01-01T00:00:00+14:00'",
        "ChargePeriodEnd: cannot parse the date '9999-12-31T23:59:59-14:00'",
    ]


class _Answers(http.server.BaseHTTPRequestHandler):
    answers: dict[str, Any] = {}

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0].removeprefix("/api/2.0/mlflow/")
        body = json.dumps(self.answers.get(path, {})).encode("utf-8", "surrogatepass")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def mlflow(allowed: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def mlflow_run(system: Any, personas: dict[str, Any], url: str, **answers: Any) -> SyncRun:
    _Answers.answers = {"experiments/get-by-name": {"experiment": {"experiment_id": "1"}},
                        "runs/search": MLFLOW_RUNS, "metrics/get-history": MLFLOW_HISTORY,
                        **{k.replace("__", "/").replace("_", "-"): v for k, v in answers.items()}}
    src = EvidenceSource.objects.filter(system=system).first() or source_create(
        actor=personas["owner"], system=system, kind="mlflow", name="mlflow", location=url, experiment="evals")
    return run_source(src)


def test_mlflow_answers_of_the_wrong_shape_fail_or_skip_readably(allowed, mlflow, system, personas):
    assert mlflow_run(system, personas, mlflow).status == "succeeded"
    run = mlflow_run(system, personas, mlflow, experiments__get_by_name=[1, 2])
    assert run.status == "failed" and run.error == "MLflow experiments/get-by-name did not answer a JSON object"
    run = mlflow_run(system, personas, mlflow, experiments__get_by_name={"experiment": [1]})
    assert run.status == "failed" and "without an experiment id" in run.error
    run = mlflow_run(system, personas, mlflow, experiments__get_by_name={"experiment": {"experiment_id": "\ud800"}})
    assert run.status == "failed" and "without an experiment id" in run.error
    run = mlflow_run(system, personas, mlflow, runs__search={"runs": [None, {"info": [], "data": 5}]})
    assert run.status == "failed"  # every row rejected
    assert [e["reason"] for e in run.row_errors] == ["is not an object", "has no run_id"]
    bad_id = json.loads(json.dumps(MLFLOW_RUNS))
    bad_id["runs"][0]["info"]["run_id"] = bad_id["runs"][0]["info"]["run_uuid"] = "\ud800"
    run = mlflow_run(system, personas, mlflow, runs__search=bad_id)
    assert "the run_id contains an unpaired surrogate (not valid Unicode)" in [e["reason"] for e in run.row_errors]
    run = mlflow_run(system, personas, mlflow, runs__search={**MLFLOW_RUNS, "next_page_token": 7})
    assert run.status == "failed" and "next_page_token that is not a plain string" in run.error
    points = [{"key": "k", "value": 0.5, "timestamp": 1e300, "step": 0},
              {"key": "k", "value": 0.5, "timestamp": 1763750100000, "step": 1e300},
              {"key": "k", "value": 0.5, "timestamp": 1763750100000, "step": 2**70},
              {"key": "k", "value": 0.5, "timestamp": float("inf"), "step": 0}, None]
    run = mlflow_run(system, personas, mlflow, metrics__get_history={"metrics": points})
    reasons = [e["reason"] for e in run.row_errors]
    assert "timestamp 1e+300 is not epoch milliseconds" in reasons
    assert "step 1180591620717411303424 is out of range" in reasons  # 2**70
    assert len({r for r in reasons if r.startswith("step 1") and r.endswith("is out of range")}) == 2  # and 1e300
    assert "timestamp inf is not epoch milliseconds" in reasons
    assert "a history point is not an object" in reasons


def test_staging_columns_are_the_evidence_columns():
    """A connector's row is checked against the staging table's columns and then inserted into the
    evidence table: the two must agree, or a row that passed the check fails the swap (PostgreSQL
    refuses a varchar past its length: the whole run would fail)."""
    from catalog.models import StagedCost, StagedEval

    for staged, target in ((StagedEval, EvalResult), (StagedCost, CostRecord)):
        for field in staged._meta.concrete_fields:
            if field.name in ("id", "run"):
                continue
            other = target._meta.get_field(field.name)
            assert (field.get_internal_type(), field.max_length, getattr(field, "max_digits", None),
                    getattr(field, "decimal_places", None)) == (
                other.get_internal_type(), other.max_length, getattr(other, "max_digits", None),
                getattr(other, "decimal_places", None)), f"{staged.__name__}.{field.name}"


def test_focus_texts_past_their_columns_are_cut_and_ids_kept_apart(allowed, system, personas):
    """ServiceName, ResourceId and ChargeCategory are descriptions: cut to their columns. Two rows
    that differ only past the cut are still two charges (a row's id digests the whole row)."""
    header = "ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency,ServiceName,ResourceId,ChargeCategory\n"
    row = "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,1.00,1.00,USD,{s},{r},{c}\n"
    rows = [row.format(s="S" * 250 + tail, r="R" * 400 + tail, c="C" * 40 + tail) for tail in ("-a", "-b")]
    run = run_file(system, personas, "focus", allowed / "focus.csv", header + "".join(rows))
    assert (run.status, run.rows_added, run.rows_skipped) == ("succeeded", 2, 0)
    for record in CostRecord.objects.all():
        assert (len(record.service), len(record.resource_id), len(record.charge_category)) == (200, 300, 30)
