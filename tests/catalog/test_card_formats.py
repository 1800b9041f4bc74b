"""Hugging Face and Model Card Toolkit import/export, on the real sample files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from catalog.lib.card_formats import parse_hugging_face
from catalog.models import EvalResult, ModelCard
from catalog.services.cards import model_card_draft, model_card_export, model_card_import
from clearance.errors import DomainError
from clearance.models import AuditEvent

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HF_CARDS = sorted(p for p in (SAMPLES / "hf_model_cards").glob("*.md") if "template" not in p.name)
HF_TEMPLATE = SAMPLES / "hf_model_cards" / "modelcard_template_hf_hub_2.4.0.md"
MCT_FILES = sorted(p for p in (SAMPLES / "model_card_toolkit").glob("*.json") if "schema" not in p.name)
MCT_FULL = SAMPLES / "model_card_toolkit" / "full.json"


@pytest.fixture
def system(request_in_review):
    return request_in_review.system


def front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_samples_are_present():
    assert len(HF_CARDS) == 4 and HF_TEMPLATE.exists() and len(MCT_FILES) == 3 and MCT_FULL in MCT_FILES


@pytest.mark.parametrize("path", HF_CARDS, ids=lambda p: p.name)
def test_hugging_face_sample_round_trips_exactly(system, personas, path):
    original = path.read_text()
    card = model_card_import(actor=personas["owner"], system=system, fmt="huggingface",
                                     content=path.read_bytes(), filename=path.name)
    _, content_type, exported = model_card_export(actor=personas["owner"], card=card, fmt="huggingface")
    assert content_type.startswith("text/markdown")
    assert exported == original


@pytest.mark.parametrize("path", HF_CARDS, ids=lambda p: p.name)
def test_hugging_face_edit_keeps_everything_the_app_does_not_model(system, personas, path):
    owner = personas["owner"]
    original = path.read_text()
    card = model_card_import(actor=owner, system=system, fmt="huggingface", content=path.read_bytes(),
                                     filename=path.name)
    assert model_card_draft(actor=owner, system=system, limitations="Fails on sarcasm.").pk == card.pk
    card.refresh_from_db()
    _, _, exported = model_card_export(actor=owner, card=card, fmt="huggingface")
    assert front_matter(exported) == front_matter(original)
    assert "Fails on sarcasm." in exported
    again = parse_hugging_face(exported)
    assert again.sections["limitations"] == "Fails on sarcasm."
    assert again.sections["body_markdown"] == parse_hugging_face(original).sections["body_markdown"]


def test_model_index_results_become_evaluation_evidence(system, personas):
    path = SAMPLES / "hf_model_cards" / "sample_simple_model_index.md"
    model_card_import(actor=personas["owner"], system=system, fmt="huggingface",
                              content=path.read_bytes(), filename=path.name)
    rows = {(r.metric, r.value, r.dataset) for r in EvalResult.objects.filter(system=system)}
    assert rows == {("accuracy", 0.9, "Beans"), ("f1", 0.66, "Beans / default / test")}
    # Importing the same file again adds no duplicate evidence (the natural key).
    model_card_import(actor=personas["owner"], system=system, fmt="huggingface",
                              content=path.read_bytes(), filename=path.name)
    assert EvalResult.objects.filter(system=system).count() == 2


def test_the_jinja_template_is_refused_naming_the_line_and_nothing_is_written(system, personas):
    with pytest.raises(DomainError, match=r"^line 4: the YAML front matter does not parse"):
        model_card_import(actor=personas["owner"], system=system, fmt="huggingface",
                                  content=HF_TEMPLATE.read_bytes(), filename=HF_TEMPLATE.name)
    assert not ModelCard.objects.exists() and not EvalResult.objects.exists()


@pytest.mark.parametrize(("text", "message"), [
    ("---\nlicense: mit\nmodel-index: [\n---\n# x\n", r"^line 4: the YAML front matter does not parse"),
    ("# no front matter\n", r"^line 1: a Hugging Face model card starts with YAML front matter"),
    ("---\nlicense: mit\n", r"never closed"),
    ("---\n- a\n- b\n---\n", r"must be a YAML mapping"),
    ("---\nmodel-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: D}\n"
     "    metrics: [{type: acc, value: high}]\n---\n", r"model-index\[0\]\.results\[0\]\.metrics\[0\]\.value must be a number"),
    ("---\nmodel-index:\n- name: m\n  results:\n  - task: {name: t}\n    dataset: {type: d, name: D}\n"
     "    metrics: [{type: acc, value: 1}]\n---\n", r"task\.type is required"),
])
def test_malformed_hugging_face_card_names_the_problem_and_imports_nothing(system, personas, text, message):
    with pytest.raises(DomainError, match=message):
        model_card_import(actor=personas["owner"], system=system, fmt="huggingface",
                                  content=text.encode(), filename="README.md")
    assert not ModelCard.objects.exists() and not EvalResult.objects.exists()
    assert not AuditEvent.objects.filter(action="model_card.imported").exists()


@pytest.mark.parametrize("path", MCT_FILES, ids=lambda p: p.name)
def test_model_card_toolkit_sample_round_trips_exactly(system, personas, path):
    card = model_card_import(actor=personas["owner"], system=system, fmt="model_card_toolkit",
                                     content=path.read_bytes(), filename=path.name)
    if path == MCT_FULL:
        assert card.limitations == "- limitations1\n- limitations2"
        assert EvalResult.objects.get(system=system).metric == "accuracy"
    _, _, exported = model_card_export(actor=personas["owner"], card=card, fmt="model_card_toolkit")
    assert json.loads(exported) == json.loads(path.read_text())
    assert exported.encode() == path.read_bytes(), "byte for byte, as the README promises"


def test_model_card_toolkit_edit_keeps_undeclared_keys(system, personas):
    path = MCT_FULL
    card = model_card_import(actor=personas["owner"], system=system, fmt="model_card_toolkit",
                                     content=path.read_bytes(), filename=path.name)
    edited = model_card_draft(actor=personas["owner"], system=system, limitations="- only one now",
                              out_of_scope_use="Medical triage")
    assert edited.pk == card.pk
    card.refresh_from_db()
    _, _, exported = model_card_export(actor=personas["owner"], card=card, fmt="model_card_toolkit")
    doc, original = json.loads(exported), json.loads(path.read_text())
    assert doc["considerations"]["limitations"] == [{"description": "only one now"}]
    assert doc["model_details"]["path"] == original["model_details"]["path"]  # not in the schema: kept
    assert doc["model_parameters"]["output_format_map"] == original["model_parameters"]["output_format_map"]
    assert doc["quantitative_analysis"] == original["quantitative_analysis"]
    # Out-of-scope use has no MCT field: it travels in model_details.documentation, a field of the
    # format, never in a key the format does not have.
    assert "clearance_sections" not in doc and set(doc) == set(original)
    assert doc["model_details"]["documentation"] == "documentation\n\n## Out-of-Scope Use\n\nMedical triage"


@pytest.mark.parametrize(("text", "message"), [
    ('{"model_details": {"name": "x",}\n}', r"^line 1, column 32: invalid JSON"),
    ('{\n  "model_details": {"owners": 3},\n  "considerations": {"limitations": "none"}\n}',
     r"^considerations\.limitations: expected list"),
    ('{"quantitative_analysis": {"performance_metrics": [{"type": "acc", "value": "n/a"}]}}',
     r"performance_metrics\[0\]\.value must be a number"),
])
def test_malformed_model_card_toolkit_names_the_field_and_imports_nothing(system, personas, text, message):
    with pytest.raises(DomainError, match=message):
        model_card_import(actor=personas["owner"], system=system, fmt="model_card_toolkit",
                                  content=text.encode(), filename="model_card.json")
    assert not ModelCard.objects.exists() and not EvalResult.objects.exists()


def test_native_card_exports_both_formats_and_each_export_is_audited(system, personas):
    owner = personas["owner"]
    card = model_card_draft(actor=owner, system=system, model_details="gpt-4o", intended_use="Summaries",
                                    limitations="- Omits attachments\n- English only",
                                    metric_targets=[{"metric": "rouge_l", "op": ">=", "threshold": 0.4}])
    _, _, readme = model_card_export(actor=owner, card=card, fmt="huggingface")
    assert parse_hugging_face(readme).sections["intended_use"] == "Summaries"
    _, _, mct = model_card_export(actor=owner, card=card, fmt="model_card_toolkit")
    doc = json.loads(mct)
    assert doc["schema_version"] == "0.0.2" and doc["model_details"]["overview"] == "gpt-4o"
    assert [item["description"] for item in doc["considerations"]["limitations"]] == ["Omits attachments", "English only"]
    assert AuditEvent.objects.filter(action="model_card.exported", object_id=str(card.pk)).count() == 2


def test_import_page_shows_the_error_and_export_downloads(client, system, personas):
    client.force_login(personas["owner"])
    response = client.post(f"/systems/{system.slug}/model-card/import/",
                           {"format": "huggingface", "file": HF_TEMPLATE.open("rb")}, follow=True)
    assert "line 4: the YAML front matter does not parse" in response.content.decode()
    path = HF_CARDS[0]
    response = client.post(f"/systems/{system.slug}/model-card/import/",
                           {"format": "huggingface", "file": path.open("rb")})
    card = ModelCard.objects.get(system=system)
    assert response.status_code == 302 and response["Location"] == card.get_absolute_url()
    download = client.get(f"/systems/{system.slug}/model-card/v{card.version}/export/huggingface/")
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content.decode() == path.read_text()
