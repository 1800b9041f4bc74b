"""Model cards round-trip faithfully through the web form, on every sample card.

Each sample is imported through the import page, the edit form is read from the page and submitted
as a browser does (every textarea with CRLF line breaks), and the card is exported again: with no
edit the export is the file, byte for byte; with one edit it differs in one place only, re-imports
to the edited text, keeps every graphic and unknown field, and goes back to the file when the edit
is undone. Sections the card lacked go to their place in the card, not above its title.
"""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from django.utils import timezone

from catalog.lib.card_formats import SECTIONS, parse_hugging_face, parse_model_card_toolkit
from catalog.models import EvalResult, ModelCard
from catalog.services.cards import model_card_draft, model_card_export, model_card_import
from clearance.errors import DomainError
from clearance.models import AuditEvent
from tests.browserlike import form_fields
from tests.catalog.evidence_helpers import make_system

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HF = sorted(p for p in (SAMPLES / "hf_model_cards").glob("*.md") if "template" not in p.name)
MCT = sorted(p for p in (SAMPLES / "model_card_toolkit").glob("*.json") if "schema" not in p.name)
SCHEMA = json.loads((SAMPLES / "model_card_toolkit" / "model_card.schema.json").read_text())
ALL = [("huggingface", p) for p in HF] + [("model_card_toolkit", p) for p in MCT]


@pytest.fixture
def system(personas):
    return make_system(personas)


@pytest.fixture
def owner_client(client, personas):
    client.force_login(personas["owner"])
    return client


def import_page(client, system, fmt: str, path: Path) -> ModelCard:
    with path.open("rb") as handle:
        response = client.post(f"/systems/{system.slug}/model-card/import/", {"format": fmt, "file": handle})
    assert response.status_code == 302, response.content[:500]
    return ModelCard.objects.get(system=system, status="draft")


def save_form(client, system, **changes: str) -> None:
    """Read the edit form from the page and submit it as a browser does, with ``changes`` typed in."""
    data = form_fields(client.get(f"/systems/{system.slug}/model-card/").content.decode(), having="model_details")
    assert all("\r\n" in v or "\n" not in v for v in data.values() if isinstance(v, str)), "textareas come back CRLF"
    for name, value in changes.items():
        data[name] = value.replace("\n", "\r\n")
    data["save"] = "1"
    response = client.post(f"/systems/{system.slug}/model-card/", data)
    assert response.status_code == 302, response.content[:2000]


def export(client, system, card: ModelCard, fmt: str) -> bytes:
    response = client.get(f"/systems/{system.slug}/model-card/v{card.version}/export/{fmt}/")
    assert response.status_code == 200
    return response.content


def hunks(a: bytes, b: bytes) -> int:
    matcher = difflib.SequenceMatcher(None, a.decode().splitlines(keepends=True), b.decode().splitlines(keepends=True),
                                      autojunk=False)
    return sum(1 for op in matcher.get_opcodes() if op[0] != "equal")


def parse(fmt: str, data: bytes):
    return (parse_hugging_face if fmt == "huggingface" else parse_model_card_toolkit)(data.decode())


def images(node) -> int:
    if isinstance(node, dict):
        return int("image" in node) + sum(images(v) for v in node.values())
    if isinstance(node, list):
        return sum(images(v) for v in node)
    return 0


def schema_keys(schema: dict, node: dict) -> set[str]:
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].split("/")[-1]]
    return set(node.get("properties", {}))


def foreign_keys(original, exported, schema_node, path="") -> list[str]:
    """Keys of ``exported`` that neither the original file nor the MCT schema has."""
    found = []
    if isinstance(exported, dict):
        allowed = schema_keys(SCHEMA, schema_node) | (set(original) if isinstance(original, dict) else set())
        props = (SCHEMA["definitions"][schema_node["$ref"].split("/")[-1]] if "$ref" in schema_node
                 else schema_node).get("properties", {})
        for key, value in exported.items():
            if key not in allowed:
                found.append(f"{path}.{key}")
            found += foreign_keys(original.get(key) if isinstance(original, dict) else None, value,
                                  props.get(key, {}), f"{path}.{key}")
    elif isinstance(exported, list):
        items = schema_node.get("items", {})
        for i, value in enumerate(exported):
            found += foreign_keys(original[i] if isinstance(original, list) and i < len(original) else None, value,
                                  items, f"{path}[{i}]")
    return found


def test_every_sample_is_covered():
    assert [p.name for p in HF] == ["deberta-v3-large-trainer_README.md", "openinstruct-mistral-7b_README.md",
                                    "sample_simple_model_index.md", "synatra-rp-orca-2-7b-v0.1_README.md"]
    assert [p.name for p in MCT] == ["cats_vs_dogs_v0_0_2.json", "considerations.json", "full.json"]


@pytest.mark.parametrize(("fmt", "path"), ALL, ids=lambda v: getattr(v, "name", v))
def test_a_form_save_with_no_edit_leaves_the_export_byte_identical(owner_client, system, fmt, path):
    card = import_page(owner_client, system, fmt, path)
    assert export(owner_client, system, card, fmt) == path.read_bytes()
    edits = AuditEvent.objects.filter(action="model_card.draft_edited").count()
    save_form(owner_client, system)
    card.refresh_from_db()
    assert all("\r" not in getattr(card, name) for name in (*SECTIONS, "body_markdown"))
    assert AuditEvent.objects.filter(action="model_card.draft_edited").count() == edits, "nothing changed"
    assert export(owner_client, system, card, fmt) == path.read_bytes()


@pytest.mark.parametrize(("fmt", "path"), ALL, ids=lambda v: getattr(v, "name", v))
def test_one_edit_changes_only_that_section_in_its_place(owner_client, system, fmt, path):
    original = path.read_bytes()
    card = import_page(owner_client, system, fmt, path)
    before = parse(fmt, original).sections
    present = [name for name in SECTIONS if before[name].strip()]
    # The Trainer's card has only "More information needed" in its sections: its edit is to the notes.
    target = "limitations" if "limitations" in present else (present[0] if present else "body_markdown")
    edited = before[target].rstrip() + "\n- Not tested on scanned documents."
    save_form(owner_client, system, **{target: edited})
    card.refresh_from_db()
    out = export(owner_client, system, card, fmt)
    assert hunks(original, out) == 1, "".join(difflib.unified_diff(original.decode().splitlines(True),
                                                                   out.decode().splitlines(True)))
    after = parse(fmt, out).sections
    assert after[target] == edited
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    if fmt == "huggingface":
        assert out.split(b"\n---\n", 1)[0] == original.split(b"\n---\n", 1)[0], "front matter untouched"
    else:
        doc, source = json.loads(out), json.loads(original)
        assert images(doc) == images(source) > 0 or images(source) == 0
        assert foreign_keys(source, doc, SCHEMA) == []
        assert "clearance_sections" not in out.decode()
    save_form(owner_client, system, **{target: before[target]})
    card.refresh_from_db()
    assert export(owner_client, system, card, fmt) == original, "undoing the edit gives the file back"


@pytest.mark.parametrize(("fmt", "path"), ALL, ids=lambda v: getattr(v, "name", v))
def test_a_section_the_card_lacked_is_added_in_one_place_and_round_trips(owner_client, system, fmt, path):
    original = path.read_bytes()
    card = import_page(owner_client, system, fmt, path)
    before = parse(fmt, original).sections
    missing = next(name for name in ("out_of_scope_use", "caveats", "limitations", "evaluation_data")
                   if not before[name].strip())
    save_form(owner_client, system, **{missing: "Not for decisions about people."})
    card.refresh_from_db()
    out = export(owner_client, system, card, fmt)
    assert hunks(original, out) == 1
    after = parse(fmt, out).sections
    assert after[missing] == "Not for decisions about people."
    assert {k: v for k, v in after.items() if k != missing} == {k: v for k, v in before.items() if k != missing}
    if fmt == "model_card_toolkit":
        assert foreign_keys(json.loads(original), json.loads(out), SCHEMA) == []


def test_a_new_section_goes_after_the_section_before_it_not_above_the_title(system, personas):
    path = SAMPLES / "hf_model_cards" / "deberta-v3-large-trainer_README.md"
    card = model_card_import(actor=personas["owner"], system=system, fmt="huggingface", content=path.read_bytes(),
                             filename=path.name)
    model_card_draft(actor=personas["owner"], system=system, limitations="Scores drift on long reviews.")
    card.refresh_from_db()
    _, _, text = model_card_export(actor=personas["owner"], card=card, fmt="huggingface")
    lines = text.splitlines()
    title = lines.index("# deberta-v3-large-ep1-lr1e-5")
    uses = lines.index("## Intended uses & limitations")
    added = lines.index("## Bias, Risks, and Limitations")
    training = lines.index("## Training and evaluation data")
    assert title < uses < added < training
    assert lines[added + 2] == "Scores drift on long reviews."


def test_a_new_section_in_a_card_headed_by_bold_lines_is_a_bold_line():
    text = ("---\nlicense: mit\n---\n\n# Ticket router\n\n**Model Description**\n\nRoutes tickets.\n\n"
            "**Training Data**\n\nOne year of tickets.\n")
    parsed = parse_hugging_face(text)
    sections = {**parsed.sections, "intended_use": "Routing by the support team."}
    from catalog.lib.card_formats import export_hugging_face
    out = export_hugging_face(sections=sections, source_document=parsed.source_document, name="x", evals=[])
    assert out == ("---\nlicense: mit\n---\n\n# Ticket router\n\n**Model Description**\n\nRoutes tickets.\n\n"
                   "**Intended Use**\n\nRouting by the support team.\n\n**Training Data**\n\nOne year of tickets.\n")


def test_bold_lines_used_as_headings_are_recognised_and_reported(owner_client, system):
    path = SAMPLES / "hf_model_cards" / "synatra-rp-orca-2-7b-v0.1_README.md"
    card = import_page(owner_client, system, "huggingface", path)
    assert "It's a test RP sft model." in card.model_details and "microsoft/Orca-2-7b" in card.model_details
    assert "Support Me" in card.body_markdown and "test RP sft" not in card.body_markdown
    report = card.source_document["report"]
    assert {"heading": "Model Description", "how": "bold line", "section": "model_details"} in report["recognised"]
    assert {"heading": "Model Details", "how": "heading level 1", "section": "model_details"} in report["recognised"]
    assert {"heading": "Support Me", "how": "heading level 2"} in report["unrecognised"]
    page = owner_client.get(f"/systems/{system.slug}/model-card/").content.decode()
    assert "What the import read" in page and "Model Description" in page and "Support Me" in page


def test_a_card_written_only_with_bold_lines_fills_its_sections():
    text = ("---\nlicense: apache-2.0\n---\n# Churn model\n\n**Model description**\nGradient boosting.\n\n"
            "**Intended uses & limitations:**\nRetention campaigns only.\n\n**Important:**\nScores are not "
            "probabilities.\n\n**Training data**\nCRM exports 2019-2023.\n\n**How to use**\nCall /score.\n\n"
            "**Limitations and bias**\nUnder-represents new customers.\n")
    parsed = parse_hugging_face(text)
    assert parsed.sections["model_details"] == "Gradient boosting."
    assert parsed.sections["intended_use"] == "Retention campaigns only."
    assert parsed.sections["training_data"] == "CRM exports 2019-2023."
    assert parsed.sections["limitations"] == "Under-represents new customers."
    # A bold line no section is named by may head a part of its own: it is kept, in further notes,
    # and reported, rather than swallowed by the section above it.
    assert parsed.sections["body_markdown"] == ("# Churn model\n\n**Important:**\nScores are not probabilities.\n\n"
                                                "**How to use**\nCall /score.")
    assert [r["heading"] for r in parsed.report["unrecognised"]] == ["Churn model", "Important", "How to use"]
    # A bold sentence is emphasis, not a heading.
    assert parse_hugging_face("---\n---\n\n**This model is the best one we have ever trained for tickets.**\n"
                              ).report == {"recognised": [], "unrecognised": []}


def test_headings_of_any_level_are_recognised():
    text = ("---\n---\n# Uses\n\n## Direct Use\nSummaries.\n\n ### Misuse, Malicious Use, and Out-of-Scope Use\n"
            "Not for legal advice.\n\n#### Limitations\nEnglish only.\n\n###### Recommendations\nReview outputs.\n")
    parsed = parse_hugging_face(text)
    assert parsed.sections["intended_use"] == "Summaries."
    assert parsed.sections["out_of_scope_use"] == "Not for legal advice."
    assert parsed.sections["limitations"] == "English only."
    assert parsed.sections["caveats"] == "Review outputs."
    assert [r["how"] for r in parsed.report["recognised"]] == [
        "heading level 1", "heading level 2", "heading level 3", "heading level 4", "heading level 6"]


def test_the_import_page_says_what_it_recognised(owner_client, system):
    path = SAMPLES / "hf_model_cards" / "deberta-v3-large-trainer_README.md"
    with path.open("rb") as handle:
        response = owner_client.post(f"/systems/{system.slug}/model-card/import/",
                                     {"format": "huggingface", "file": handle}, follow=True)
    body = response.content.decode()
    assert "recognised Model Details, Intended Use, Training Data" in body
    assert "5 heading(s) kept in further notes: deberta-v3-large-ep1-lr1e-5, Training procedure" in body
    event = AuditEvent.objects.get(action="model_card.imported")
    assert event.data["sections_recognised"] == ["Model description", "Intended uses & limitations",
                                                 "Training and evaluation data"]


def test_a_crlf_card_keeps_its_line_endings_through_an_edit(owner_client, system, tmp_path):
    path = tmp_path / "README.md"
    path.write_bytes((SAMPLES / "hf_model_cards" / "deberta-v3-large-trainer_README.md").read_bytes()
                     .replace(b"\n", b"\r\n"))
    card = import_page(owner_client, system, "huggingface", path)
    assert "\r" not in card.model_details + card.body_markdown
    save_form(owner_client, system)
    assert export(owner_client, system, card, "huggingface") == path.read_bytes()
    save_form(owner_client, system, limitations="Scores drift.\nOn long reviews.")
    out = export(owner_client, system, card, "huggingface")
    assert out.count(b"\n") == out.count(b"\r\n"), "no bare LF in a CRLF file"
    assert b"## Bias, Risks, and Limitations\r\n\r\nScores drift.\r\nOn long reviews.\r\n" in out


def test_a_byte_order_mark_survives(system, personas):
    for fmt, path in (("huggingface", HF[0]), ("model_card_toolkit", MCT[-1])):
        data = b"\xef\xbb\xbf" + path.read_bytes()
        card = model_card_import(actor=personas["owner"], system=system, fmt=fmt, content=data, filename=path.name)
        assert model_card_export(actor=personas["owner"], card=card, fmt=fmt)[2].encode() == data


def test_model_index_dataset_type_few_shot_and_source_travel_with_the_evidence(system, personas):
    path = SAMPLES / "hf_model_cards" / "openinstruct-mistral-7b_README.md"
    card = model_card_import(actor=personas["owner"], system=system, fmt="huggingface", content=path.read_bytes(),
                             filename=path.name)
    rows = {r.metric + "@" + r.dataset_type: r for r in EvalResult.objects.filter(system=system)}
    assert len(rows) == 6
    arc = rows["acc_norm@ai2_arc"]
    assert (arc.value, arc.dataset, arc.num_few_shot) == (59.73, "AI2 Reasoning Challenge (25-Shot) / ARC-Challenge / test", 25)
    assert arc.source_url == "https://huggingface.co/spaces/HuggingFaceH4/open_llm_leaderboard?query=monology/openinstruct-mistral-7b"
    assert rows["mc2@truthful_qa"].num_few_shot == 0
    assert {r.num_few_shot for r in rows.values()} == {25, 10, 5, 0}
    # A card of our own that reports the result says the same in its model-index.
    native = make_system(personas, "ticket-scorer")
    draft = model_card_draft(actor=personas["owner"], system=native, model_details="x",
                             metric_targets=[{"metric": "acc_norm", "op": ">=", "threshold": 0.5}])
    EvalResult.objects.filter(pk=arc.pk).update(system=native)
    import yaml
    _, _, readme = model_card_export(actor=personas["owner"], card=draft, fmt="huggingface")
    result = yaml.safe_load(readme.split("---\n")[1])["model-index"][0]["results"][0]
    assert result["dataset"] == {"type": "ai2_arc", "name": "AI2 Reasoning Challenge (25-Shot) / ARC-Challenge / test",
                                 "args": {"num_few_shot": 25}}
    assert result["source"] == {"url": arc.source_url}
    assert card.source_format == "huggingface"


def test_results_are_dated_by_the_card_when_it_says(system, personas):
    text = (SAMPLES / "hf_model_cards" / "sample_simple_model_index.md").read_text()
    dated = text.replace("license: mit\n", "license: mit\nlast_updated: 2024-01-01\n", 1)
    card = model_card_import(actor=personas["owner"], system=system, fmt="huggingface", content=dated.encode(),
                             filename="README.md")
    assert {r.observed_at for r in EvalResult.objects.filter(system=system)} == {datetime(2024, 1, 1, tzinfo=UTC)}
    assert card.source_document["report"]["date"] == "results dated by the card's last_updated: 2024-01-01"
    _, _, out = model_card_export(actor=personas["owner"], card=card, fmt="huggingface")
    assert out == dated, "the date stays in the front matter as written"


def test_model_card_toolkit_results_are_dated_by_the_version_date(system, personas):
    path = SAMPLES / "model_card_toolkit" / "cats_vs_dogs_v0_0_2.json"
    model_card_import(actor=personas["owner"], system=system, fmt="model_card_toolkit", content=path.read_bytes(),
                      filename=path.name)
    results = EvalResult.objects.filter(system=system)
    assert results.count() == 3
    assert {r.observed_at for r in results} == {datetime(2020, 8, 28, tzinfo=UTC)}, "08/28/2020 as written"


def test_an_undated_card_is_dated_at_import_and_a_bad_or_future_date_is_named(system, personas):
    text = (SAMPLES / "hf_model_cards" / "sample_simple_model_index.md").read_text()
    before = timezone.now()
    model_card_import(actor=personas["owner"], system=system, fmt="huggingface", content=text.encode(),
                      filename="README.md")
    assert all(r.observed_at >= before for r in EvalResult.objects.filter(system=system))
    odd = make_system(personas, "odd-dates")
    card = model_card_import(actor=personas["owner"], system=odd, fmt="huggingface",
                             content=text.replace("license: mit\n", "license: mit\nlast_updated: soon\n").encode(),
                             filename="README.md")
    assert card.source_document["report"]["date"] == "last_updated: 'soon' is not a date; results are dated at import"
    future = (timezone.now() + timedelta(days=40)).date().isoformat()
    later = make_system(personas, "later")
    with pytest.raises(DomainError, match=f"the card is dated {future}, in the future"):
        model_card_import(actor=personas["owner"], system=later, fmt="huggingface",
                          content=text.replace("license: mit\n", f"license: mit\nlast_updated: {future}\n").encode(),
                          filename="README.md")
    assert not EvalResult.objects.filter(system=later).exists() and not ModelCard.objects.filter(system=later).exists()


def test_a_native_model_card_toolkit_export_has_only_schema_keys(system, personas):
    card = model_card_draft(actor=personas["owner"], system=system, model_details="gpt-4o behind retrieval.\n\nHosted in the EU.",
                            intended_use="- Summaries", out_of_scope_use="Legal advice", evaluation_data="Golden set v3",
                            metrics="Faithfulness on the golden set.", body_markdown="Owned by the support team.",
                            training_data="- tickets-2024: anonymised tickets", ethical_considerations="- Bias — mitigation: review",
                            caveats="- Human review", limitations="- English only")
    _, _, text = model_card_export(actor=personas["owner"], card=card, fmt="model_card_toolkit")
    doc = json.loads(text)
    jsonschema.validate(doc, SCHEMA)
    assert foreign_keys({}, doc, SCHEMA) == []
    assert doc["model_details"]["overview"] == "gpt-4o behind retrieval."
    again = parse_model_card_toolkit(text).sections
    for name in (*SECTIONS, "body_markdown"):
        assert again[name] == getattr(card, name), name
