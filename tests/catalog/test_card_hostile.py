"""Model card files built to hurt: each is refused with a message that says where, or imported
cleanly, and a refusal leaves nothing behind. Each case starts from a real sample file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.lib.card_formats import parse_hugging_face
from catalog.models import EvalResult, ModelCard
from catalog.services.cards import model_card_draft, model_card_import
from clearance.errors import DomainError
from clearance.models import AuditEvent

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HF = (SAMPLES / "hf_model_cards" / "sample_simple_model_index.md").read_text()
MCT = json.loads((SAMPLES / "model_card_toolkit" / "full.json").read_text())

# 251 bytes of YAML that stand for over a million strings (tens of MB once stored as JSON, before).
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f]\n"
)


def with_front(extra: str) -> str:
    """The real sample with extra front matter lines before its closing '---'."""
    head, rest = HF.split("\n---\n", 1)
    return f"{head}\n{extra.rstrip()}\n---\n{rest}"


def with_value(value: str) -> str:
    return HF.replace("      value: 0.9\n", f"      value: {value}\n", 1)


def mct_with_metric(value: object, mtype: str = "accuracy") -> str:
    doc = json.loads(json.dumps(MCT))
    doc["quantitative_analysis"]["performance_metrics"][0].update({"value": value, "type": mtype})
    return json.dumps(doc)


@pytest.fixture
def system(request_in_review):
    return request_in_review.system


def refused(system, personas, fmt: str, text: str | bytes) -> DomainError:
    before = (ModelCard.objects.count(), EvalResult.objects.count(), AuditEvent.objects.count())
    content = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(DomainError) as caught:
        model_card_import(actor=personas["owner"], system=system, fmt=fmt, content=content, filename="README.md")
    assert (ModelCard.objects.count(), EvalResult.objects.count(), AuditEvent.objects.count()) == before
    return caught.value


def test_dates_and_timestamps_in_front_matter_become_iso_strings(system, personas):
    text = with_front("last_updated: 2024-01-01\nreleased: 2024-01-01 10:30:00+02:00\ntrained_on: [2023-12-31]")
    card = model_card_import(actor=personas["owner"], system=system, fmt="huggingface", content=text.encode(),
                             filename="README.md")
    card.refresh_from_db()
    # The card keeps its front matter as the text it came in (the export writes it back unchanged);
    # what the import read from it went through the bounded loader, dates as ISO strings.
    assert "last_updated: 2024-01-01" in card.source_document["front_matter_text"]
    from clearance.untrusted import load_yaml

    meta = load_yaml(card.source_document["front_matter_text"])
    assert meta["last_updated"] == "2024-01-01"
    assert meta["released"] == "2024-01-01T10:30:00+02:00"
    assert meta["trained_on"] == ["2023-12-31"]
    assert EvalResult.objects.filter(system=system, metric="accuracy", value=0.9).exists()


def test_a_251_byte_alias_bomb_is_refused(system, personas):
    assert len(ALIAS_BOMB) == 251
    error = refused(system, personas, "huggingface", with_front(ALIAS_BOMB))
    assert error.field == "file" and "more than 100000 values" in error.message


def test_an_alias_that_contains_itself_is_refused(system, personas):
    error = refused(system, personas, "huggingface", with_front("loop: &l [1, *l]"))
    assert "refers to itself" in error.message


@pytest.mark.parametrize("extra, expected", [
    ("thumbnail: !!binary aGVsbG8=", "!!binary values are not supported"),
    ("tags: !!set {nlp, vision}", "!!set values are not supported"),
])
def test_binary_and_set_are_refused_with_their_line(system, personas, extra, expected):
    error = refused(system, personas, "huggingface", with_front(extra))
    line = with_front(extra).splitlines().index(extra) + 1
    assert error.message.startswith(f"line {line}: ") and expected in error.message


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e400", "1.0e+400", "'Infinity'"])
def test_non_finite_metric_values_are_a_field_error(system, personas, value):
    error = refused(system, personas, "huggingface", with_value(value))
    assert "model-index[0].results[0].metrics[0].value" in error.message
    assert "finite number" in error.message


def test_non_finite_numbers_elsewhere_in_the_front_matter_are_refused(system, personas):
    error = refused(system, personas, "huggingface", with_front("co2_eq_emissions: .inf"))
    assert error.message == "front matter: co2_eq_emissions must be a finite number, got inf"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_model_card_toolkit_non_finite_values_are_a_field_error(system, personas, value):
    error = refused(system, personas, "model_card_toolkit", mct_with_metric(value))
    assert error.field == "quantitative_analysis.performance_metrics[0].value"
    assert "finite number" in error.message


def test_model_card_toolkit_bare_nan_is_refused(system, personas):
    text = mct_with_metric(0.5).replace('"value": 0.5', '"value": NaN')
    error = refused(system, personas, "model_card_toolkit", text)
    assert "NaN is not a number JSON allows" in error.message


def test_a_500_character_metric_name_is_refused_as_the_forms_refuse_it(system, personas):
    long_name = "m" * 500
    error = refused(system, personas, "huggingface", HF.replace("- type: accuracy", f"- type: {long_name}", 1))
    assert "at most 100 characters (500 here)" in error.message
    error = refused(system, personas, "model_card_toolkit", mct_with_metric("0.9", mtype=long_name))
    assert "at most 100 characters" in error.message


def test_nul_characters_are_refused_raw_or_escaped(system, personas):
    error = refused(system, personas, "huggingface", HF.replace("This is a test", "This is\x00 a test"))
    line = HF.splitlines().index(next(line for line in HF.splitlines() if "This is a test" in line)) + 1
    assert error.message == f"line {line}: the file contains a NUL character"
    assert "contains a NUL character" in refused(system, personas, "huggingface",
                                                 with_front('note: "a\\0b"')).message
    doc = json.loads(json.dumps(MCT))
    doc["model_details"]["overview"] = "over\u0000view"
    error = refused(system, personas, "model_card_toolkit", json.dumps(doc))
    assert error.message == "model_details.overview: contains a NUL character"
    doc["model_details"]["overview"] = "\ud800"
    assert "unpaired surrogate" in refused(system, personas, "model_card_toolkit", json.dumps(doc)).message


def test_deep_nesting_and_huge_integers_are_refused(system, personas):
    assert "nested" in refused(system, personas, "huggingface", with_front("deep: " + "[" * 3000 + "]" * 3000)).message
    assert "cannot be read" in refused(system, personas, "huggingface", with_front("n: 1" + "0" * 5000)).message
    deep = json.dumps(MCT)[:-1] + ', "x": ' + "[" * 100 + "]" * 100 + "}"
    assert "nested deeper than 64 levels" in refused(system, personas, "model_card_toolkit", deep).message


def test_metric_targets_must_be_finite_and_named_within_limits(system, personas):
    card = model_card_draft(actor=personas["owner"], system=system, model_details="m")
    from catalog.services.cards import parse_metric_targets

    with pytest.raises(DomainError, match="1e999 is not a finite number"):
        parse_metric_targets("accuracy >= 1e999")
    with pytest.raises(DomainError, match="at most 100 characters"):
        parse_metric_targets("a" * 101 + " >= 0.5")
    assert parse_metric_targets("accuracy >= 0.9") == [{"metric": "accuracy", "op": ">=", "threshold": 0.9}]
    edited = model_card_draft(actor=personas["owner"], system=system, metric_targets=parse_metric_targets("f1 >= 0.8"))
    assert edited.pk == card.pk and edited.metric_targets == [{"metric": "f1", "op": ">=", "threshold": 0.8}]


def test_the_import_page_shows_the_refusal_on_the_form(client, system, personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(personas["owner"])
    response = client.post(f"/systems/{system.slug}/model-card/import/", {
        "format": "huggingface", "file": SimpleUploadedFile("README.md", with_value(".nan").encode())})
    assert response.status_code == 302  # back to the card, with the reason
    page = client.get(response["Location"])
    assert "model-index[0].results[0].metrics[0].value must be a finite number" in page.content.decode()
    assert 'class="error"' in page.content.decode()
    assert not ModelCard.objects.filter(system=system).exists()


def test_the_parser_alone_refuses_without_a_database():
    with pytest.raises(DomainError, match="more than 100000 values"):
        parse_hugging_face(with_front(ALIAS_BOMB))


def test_texts_past_their_columns_are_cut_so_that_none_collapses(system, personas):
    """Identifiers a card composes (the file name as the results' source, name / config / split as
    the dataset) are cut with a digest of the whole; the dataset type is cut; a source URL past its
    column is left out; none reaches the database longer than its column, and two long names stay two."""
    names = "a" * 240 + "-one.md", "a" * 240 + "-two.md"
    long_card = HF.replace("      type: beans\n      name: Beans\n      config: default",
                           f"      type: {'t' * 400}\n      name: {'B' * 300}\n      config: default", 1)
    long_card = long_card.replace("      value: 0.66\n", "      value: 0.66\n    source:\n"
                                  f"      url: https://leaderboard.example/{'u' * 1000}\n", 1)
    assert long_card.count("u" * 1000) == 1 and long_card.count("t" * 400) == 1
    for filename in names:
        model_card_import(actor=personas["owner"], system=system, fmt="huggingface", content=long_card.encode(),
                          filename=filename)
    rows = list(EvalResult.objects.filter(system=system, source__startswith="huggingface:"))
    assert len(rows) == 4 and len({r.source for r in rows}) == 2, "two files, two sources"
    for row in rows:
        for name in ("source", "dataset", "dataset_type", "source_run_id", "source_url"):
            assert len(getattr(row, name)) <= EvalResult._meta.get_field(name).max_length, name
    f1 = next(r for r in rows if r.metric == "f1")
    assert f1.dataset.startswith("B" * 150) and f1.dataset != ("B" * 300 + " / default / test")[:200]
    assert f1.source_url == "", "a link past its column is left out, not cut into another link"
    assert len(f1.dataset_type) == 200 and next(r for r in rows if r.metric == "accuracy").dataset_type == "beans"


def test_a_few_shot_count_past_its_column_is_a_field_error(system, personas):
    from datetime import UTC, datetime

    from catalog.services.evidence import eval_result_record

    with pytest.raises(DomainError) as caught:
        eval_result_record(system=system, metric="acc", value=0.5, source="api", source_run_id="r1",
                           observed_at=datetime(2024, 1, 1, tzinfo=UTC), num_few_shot=2**40)
    assert caught.value.field == "num_few_shot"
    for name, value in (("dataset_type", "t" * 201), ("source_url", "https://x/" + "u" * 1000), ("dataset_type", "a\x00")):
        with pytest.raises(DomainError) as caught:
            eval_result_record(system=system, metric="acc", value=0.5, source="api", source_run_id="r1",
                               observed_at=datetime(2024, 1, 1, tzinfo=UTC), **{name: value})
        assert caught.value.field == name
    assert not EvalResult.objects.filter(source="api").exists()
