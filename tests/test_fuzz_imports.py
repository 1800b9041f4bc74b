"""Property-based fuzzing of every import parser, through the service that runs it for real.

Each input starts from a real sample file (tests/samples) with parts replaced by hostile values,
or is built from scratch. The property is the same everywhere: the import either lands or is
refused with the domain's own error (DomainError for model cards; a failed run with its reason, or
skipped rows with theirs, for evidence sources), never any other exception; a refusal writes
nothing, and what lands fits its columns. Inputs tried per parser are printed at the end
(FUZZ_EXAMPLES sets how many; the suite's default keeps this file to about a minute).
"""

from __future__ import annotations

import csv
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from catalog.models import CostRecord, EvalResult, ModelCard, StagedCost, StagedEval, SyncRun
from catalog.services.cards import MODEL_CARD_SECTIONS, model_card_draft, model_card_export, model_card_import
from catalog.services.evidence import source_create, sync_request, sync_run_execute
from clearance.errors import DomainError
from clearance.models import AuditEvent
from clearance.untrusted import check_storable, text_problem
from tests.catalog.evidence_helpers import make_system
from tests.fuzzing import (
    FUZZ,
    HOSTILE_NUMBERS,
    HOSTILE_STRINGS,
    TRIED,
    column_texts,
    count,
    json_text,
    json_values,
    long_texts_in,
    text,
)

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent / "samples"
HF_SAMPLES = [p.read_text() for p in sorted((SAMPLES / "hf_model_cards").glob("*.md"))]
MCT_SAMPLE = json.loads((SAMPLES / "model_card_toolkit" / "full.json").read_text())
LM_EVAL_SAMPLES = [json.loads(p.read_text()) for p in sorted((SAMPLES / "lm_eval").glob("*.json"))]
PROMPTFOO_SAMPLE = json.loads((SAMPLES / "promptfoo" / "promptfoo_eval_output_v0.123.1.json").read_text())
OPENAI_SAMPLE = json.loads((SAMPLES / "cost_apis" / "openai_organization_costs_response_example.json").read_text())
MLFLOW_RUNS = json.loads((SAMPLES / "mlflow" / "runs_search_response.json").read_text())
MLFLOW_HISTORY = json.loads((SAMPLES / "mlflow" / "metrics_get_history_response.json").read_text())

HOSTILE_YAML = [
    "last_updated: 2024-01-01", "released: 2001-12-14t21:59:43.10-05:00", "thumbnail: !!binary aGVsbG8=",
    "tags: !!set {a, b}", "x: .nan", "x: .inf", "x: -.inf", "x: 1e400", "x: 1.0e+400", "loop: &l [1, *l]",
    'bomb: &a ["l","l","l","l","l","l","l","l","l"]\nb2: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
    "b3: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nb4: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nb5: [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    "x: !!python/object/apply:os.system ['true']", 'x: "\\0"', 'x: "\\ud800"', "? [a, b]\n: c", "x: 1" + "0" * 5000,
    "deep: " + "[" * 3000 + "]" * 3000, "x: *undefined", "x: !!int abc", "x: !!float nan", "x: 0x1F", "x: 190:20:30",
    "x: ~", "x: !custom tag", "<<: *a", "x: !!timestamp 2024-13-45", "x: !!omap [a: 1]", "x: !!pairs [a: 1]",
    "\tx: tab", "x: [unclosed", "model-index: 5", "model-index: [5]", "model-index: [{results: [5]}]",
    "? !!binary aGk=\n: v", "2024-01-01: dated key", ".nan: key", "null: key", "1: int key",
]
HOSTILE_YAML_SCALARS = [".nan", ".inf", "-.inf", "1e400", "1.0e+400", "'NaN'", "'Infinity'", "99999999999999999999999",
                        "1" + "0" * 5000, "[1, 2]", "{a: 1}", "~", "true", "'0.9'", "!!binary aGk=", "2024-01-01",
                        '"' + "m" * 500 + '"', '"a\\0b"', "-0.0", "0x10", "1_0"]


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    print("\nimport fuzzing, inputs tried per parser:")
    for target, number in sorted(TRIED.items()):
        print(f"  {number:6d}  {target}")


def snapshot() -> tuple[int, ...]:
    return (ModelCard.objects.count(), EvalResult.objects.count(), CostRecord.objects.count(),
            AuditEvent.objects.count())


def stored_evals_fit(system: Any) -> None:
    for row in EvalResult.objects.filter(system=system):
        for name in ("metric", "dataset", "model_version", "source", "source_run_id", "dataset_type", "source_url"):
            value = getattr(row, name)
            assert text_problem(value) is None and len(value) <= EvalResult._meta.get_field(name).max_length


# --- model cards ------------------------------------------------------------------------------


@st.composite
def hugging_face_cards(draw: Any) -> str:
    original = draw(st.sampled_from(HF_SAMPLES))
    head, sep, body = original.partition("\n---\n")
    lines = head.split("\n")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(1, len(lines)))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.insert(at, draw(st.sampled_from(HOSTILE_YAML)))
        elif kind == 1:
            key = draw(st.sampled_from(["extra", "x", "model_name", "datasets"]))
            dumped = yaml.safe_dump({key: draw(json_values)}, allow_unicode=True, default_flow_style=True)
            lines.insert(at, dumped.strip())
        elif kind == 2:
            lines = [line.replace("value: ", f"value: {draw(st.sampled_from(HOSTILE_YAML_SCALARS))} #", 1)
                     if "value:" in line else line for line in lines]
        else:
            lines = [line.replace("type: ", f"type: {draw(st.sampled_from(HOSTILE_YAML_SCALARS))} #", 1)
                     if "type:" in line else line for line in lines]
    if draw(st.booleans()):
        body_lines = body.split("\n")
        body_lines.insert(draw(st.integers(0, len(body_lines))), draw(text))
        body = "\n".join(body_lines)
    card = "\n".join(lines) + sep + body
    if draw(st.integers(0, 9)) == 0:
        card = card[: draw(st.integers(0, len(card)))]
    return card


@given(card=hugging_face_cards())
@FUZZ
def test_fuzz_hugging_face_card_import(personas: dict[str, Any], card: str) -> None:
    _import("huggingface", card, _system(personas), personas)


@given(doc=json_text(MCT_SAMPLE))
@FUZZ
def test_fuzz_model_card_toolkit_import(personas: dict[str, Any], doc: str) -> None:
    _import("model_card_toolkit", doc, _system(personas), personas)


def _system(personas: dict[str, Any]) -> Any:
    from catalog.models import AISystem

    return AISystem.objects.filter(slug="support-copilot").first() or make_system(personas)


def _import(fmt: str, content: str, system: Any, personas: dict[str, Any], *, filename: str = "README.md",
            target: str = "") -> None:
    count(target or f"model card import ({fmt})")
    before = snapshot()
    raw = content.encode("utf-8", "surrogatepass")
    try:
        card = model_card_import(actor=personas["owner"], system=system, fmt=fmt, content=raw, filename=filename)
    except DomainError as exc:
        assert exc.message and snapshot() == before, "a refused import wrote something"
        return
    card.refresh_from_db()
    check_storable(card.source_document, max_depth=70)  # the document sits a level or two down
    stored_evals_fit(system)
    # What was accepted can be exported in both formats, unedited and after an edit.
    for export_format in ("huggingface", "model_card_toolkit"):
        model_card_export(actor=personas["owner"], card=card, fmt=export_format)
    edited = model_card_draft(actor=personas["owner"], system=system,
                              **{name: getattr(card, name) + "\n\nEdited." for name in MODEL_CARD_SECTIONS})
    for export_format in ("huggingface", "model_card_toolkit"):
        model_card_export(actor=personas["owner"], card=edited, fmt=export_format)


# --- evidence sources ----------------------------------------------------------------------------


@pytest.fixture
def allowed(tmp_path: Path, settings: Any) -> Path:
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]
    return tmp_path


def _sync(system: Any, personas: dict[str, Any], kind: str, location: str, target: str, **options: Any) -> SyncRun:
    """One run of a source over the input; the run ends succeeded or failed with its reason."""
    count(target)
    from catalog.models import EvidenceSource

    src = EvidenceSource.objects.filter(system=system, kind=kind).first() or source_create(
        actor=personas["owner"], system=system, kind=kind, name=f"{kind} fuzz", location=location, **options)
    before_eval, before_cost = EvalResult.objects.count(), CostRecord.objects.count()
    run, _ = sync_request(actor=None, source=src)
    outcome = sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert outcome in ("succeeded", "failed"), outcome
    assert not run.error.startswith("internal error"), run.error
    assert not StagedEval.objects.filter(run_id=run.pk).exists() and not StagedCost.objects.filter(run_id=run.pk).exists()
    if outcome == "failed":
        assert run.error and (EvalResult.objects.count(), CostRecord.objects.count()) == (before_eval, before_cost)
    for error in run.row_errors:
        assert error["reason"]
    stored_evals_fit(system)
    for row in CostRecord.objects.filter(system=system):
        for name in ("currency", "service", "resource_id", "charge_category", "source_row_id"):
            value = getattr(row, name)
            assert text_problem(value) is None and len(value) <= CostRecord._meta.get_field(name).max_length
    return run


def _write(allowed: Path, name: str, content: str | bytes) -> str:
    path = allowed / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return str(path)


@given(doc=st.sampled_from(LM_EVAL_SAMPLES).flatmap(json_text))
@FUZZ
def test_fuzz_lm_eval_results(allowed: Path, personas: dict[str, Any], doc: str) -> None:
    location = _write(allowed, "results.json", doc)
    _sync(_system(personas), personas, "lm_eval", location, "lm-evaluation-harness results")


@given(doc=json_text(PROMPTFOO_SAMPLE))
@FUZZ
def test_fuzz_promptfoo_output(allowed: Path, personas: dict[str, Any], doc: str) -> None:
    location = _write(allowed, "promptfoo.json", doc)
    _sync(_system(personas), personas, "promptfoo", location, "promptfoo output")


@given(doc=json_text(OPENAI_SAMPLE))
@FUZZ
def test_fuzz_openai_costs(allowed: Path, personas: dict[str, Any], doc: str) -> None:
    location = _write(allowed, "costs.json", doc)
    _sync(_system(personas), personas, "openai_costs", location, "OpenAI costs")


FOCUS_HEADER = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "BilledCost",
                "EffectiveCost", "BillingCurrency", "ServiceName", "ResourceId", "ChargeCategory", "ConsumedQuantity",
                "ConsumedUnit", "Tags"]
FOCUS_ROW = ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "1.00",
             "1.00", "USD", "OpenAI", "res-1", "Usage", "10", "Requests", '{"ai_system": "support-copilot"}']


@st.composite
def focus_files(draw: Any) -> str:
    header = list(FOCUS_HEADER)
    if draw(st.integers(0, 5)) == 0:
        header.remove(draw(st.sampled_from(header)))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = dict(zip(FOCUS_HEADER, FOCUS_ROW, strict=True))
        for _ in range(draw(st.integers(0, 3))):
            row[draw(st.sampled_from(FOCUS_HEADER))] = draw(st.one_of(
                st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS).map(str), text))
        rows.append([row[name] for name in header])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    result = out.getvalue()
    if draw(st.integers(0, 6)) == 0:
        lines = result.split("\n")
        lines.insert(draw(st.integers(1, len(lines))), draw(st.sampled_from(HOSTILE_STRINGS)))
        result = "\n".join(lines)
    return result


@given(content=focus_files(), tagged=st.booleans())
@FUZZ
def test_fuzz_focus_csv(allowed: Path, personas: dict[str, Any], content: str, tagged: bool) -> None:
    location = _write(allowed, "focus.csv", content)
    _sync(_system(personas), personas, "focus", location, "FOCUS cost CSV", tag_key="ai_system" if tagged else "")


# --- MLflow: a local HTTP server answers with what hypothesis drew -----------------------------------------------


class _MlflowHandler(http.server.BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, bytes]] = {}

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        # Later pages answer empty, so a drawn next_page_token cannot make the run page forever.
        later_page = b"page_token" in body or "page_token=" in self.path
        status, payload = (200, b"{}") if later_page else self.answers.get(path, (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mlflow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MlflowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


API = "/api/2.0/mlflow/"


BY_NAME = {"experiment": {"experiment_id": "1", "name": "evals"}}


@st.composite
def mlflow_answers(draw: Any) -> dict[str, tuple[int, str]]:
    """The three answers a sync reads; one of them (mostly the runs or the history) is hostile."""
    answers = {"experiments/get-by-name": (200, json.dumps(BY_NAME)), "runs/search": (200, json.dumps(MLFLOW_RUNS)),
               "metrics/get-history": (200, json.dumps(MLFLOW_HISTORY))}
    target = draw(st.sampled_from(["experiments/get-by-name", "runs/search", "runs/search", "metrics/get-history",
                                   "metrics/get-history", "metrics/get-history"]))
    original = {"experiments/get-by-name": BY_NAME, "runs/search": MLFLOW_RUNS,
                "metrics/get-history": MLFLOW_HISTORY}[target]
    status = draw(st.sampled_from([200] * 6 + [400, 401, 403, 404, 429, 500, 503]))
    answers[target] = (status, draw(json_text(original)))
    return answers


@given(answers=mlflow_answers())
@FUZZ
def test_fuzz_mlflow_responses(allowed: Path, mlflow_server: str, personas: dict[str, Any],
                               answers: dict[str, tuple[int, str]]) -> None:
    _MlflowHandler.answers = {API + path: (status, body.encode("utf-8", "surrogatepass"))
                              for path, (status, body) in answers.items()}
    _sync(_system(personas), personas, "mlflow", mlflow_server, "MLflow REST responses", experiment="evals")


# --- text around its column's length, from every parser ---------------------------------------------------------
# Only strings (values and keys) change, so the input passes the shape checks and its text reaches
# the columns: it lands cut to fit (identifiers keep a digest of the whole), or its row is skipped
# with the reason, or the import is refused naming the field; never a database error (PostgreSQL
# refuses a varchar past its length), never a stored value longer than its column.

HF_INDEX_CARD = (SAMPLES / "hf_model_cards" / "sample_simple_model_index.md").read_text()
HF_INDEX = yaml.safe_load(HF_INDEX_CARD.split("---\n")[1])


@given(index=long_texts_in(HF_INDEX["model-index"], max_edits=4), filename=st.one_of(st.just("README.md"),
                                                                                     column_texts()))
@FUZZ
def test_fuzz_long_texts_in_hugging_face_model_index(personas: dict[str, Any], index: Any, filename: str) -> None:
    head = yaml.safe_dump({**HF_INDEX, "model-index": index}, allow_unicode=True, sort_keys=False)
    body = HF_INDEX_CARD.split("---\n", 2)[2]
    _import("huggingface", f"---\n{head}---\n{body}", _system(personas), personas, filename=filename,
            target="long texts: model card import (huggingface)")


@given(doc=long_texts_in(MCT_SAMPLE, max_edits=4))
@FUZZ
def test_fuzz_long_texts_in_model_card_toolkit(personas: dict[str, Any], doc: Any) -> None:
    _import("model_card_toolkit", json.dumps(doc), _system(personas), personas,
            target="long texts: model card import (model_card_toolkit)")


LONG_TEXT_SOURCES = [("lm_eval", "results.json", doc) for doc in LM_EVAL_SAMPLES] + [
    ("promptfoo", "promptfoo.json", PROMPTFOO_SAMPLE), ("openai_costs", "costs.json", OPENAI_SAMPLE)]


@pytest.mark.parametrize(("kind", "name", "original"), LONG_TEXT_SOURCES,
                         ids=["lm_eval_legacy", "lm_eval", "promptfoo", "openai_costs"])
@given(data=st.data())
@FUZZ
def test_fuzz_long_texts_in_evidence_files(allowed: Path, personas: dict[str, Any], kind: str, name: str,
                                           original: Any, data: Any) -> None:
    location = _write(allowed, name, json.dumps(data.draw(long_texts_in(original))))
    _sync(_system(personas), personas, kind, location, f"long texts: {kind} file")


@given(cells=st.dictionaries(st.sampled_from(["ServiceName", "ResourceId", "ChargeCategory", "BillingCurrency",
                                              "ConsumedUnit", "Tags"]), column_texts(), min_size=1, max_size=4),
       rows=st.integers(1, 3), tagged=st.booleans())
@FUZZ
def test_fuzz_long_texts_in_focus_cells(allowed: Path, personas: dict[str, Any], cells: dict[str, str], rows: int,
                                        tagged: bool) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FOCUS_HEADER)
    row = {**dict(zip(FOCUS_HEADER, FOCUS_ROW, strict=True)), **cells}
    if "Tags" in cells and tagged:
        row["Tags"] = json.dumps({"ai_system": "support-copilot", "x": cells["Tags"]})
    writer.writerows([[row[name] for name in FOCUS_HEADER]] * rows)
    location = _write(allowed, "focus.csv", out.getvalue())
    _sync(_system(personas), personas, "focus", location, "long texts: FOCUS cost CSV",
          tag_key="ai_system" if tagged else "")


@given(runs=long_texts_in(MLFLOW_RUNS, max_edits=4), history=long_texts_in(MLFLOW_HISTORY, max_edits=1))
@FUZZ
def test_fuzz_long_texts_in_mlflow_responses(allowed: Path, mlflow_server: str, personas: dict[str, Any],
                                             runs: Any, history: Any) -> None:
    _MlflowHandler.answers = {API + path: (200, json.dumps(body).encode("utf-8", "surrogatepass")) for path, body in (
        ("experiments/get-by-name", BY_NAME), ("runs/search", runs), ("metrics/get-history", history))}
    _sync(_system(personas), personas, "mlflow", mlflow_server, "long texts: MLflow REST responses",
          experiment="evals")


def test_hostile_pools_are_not_empty() -> None:
    assert len(HOSTILE_STRINGS) > 50 and len(HOSTILE_YAML) > 30 and TRIED is not None
