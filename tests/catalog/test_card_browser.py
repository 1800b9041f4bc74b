"""In a real browser (Chromium): a model card imported through the page and saved from the edit form
without a change exports as the very file that was imported; one edit typed into the form changes
that section only, and keeps every base64 graphic of a Model Card Toolkit file."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from catalog.models import ModelCard
from tests.catalog.evidence_helpers import make_system
from tests.conftest import BROWSER_MARKS, PASSWORD

pytestmark = BROWSER_MARKS

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def hunks(a: bytes, b: bytes) -> int:
    matcher = difflib.SequenceMatcher(None, a.decode().splitlines(keepends=True), b.decode().splitlines(keepends=True),
                                      autojunk=False)
    return sum(1 for op in matcher.get_opcodes() if op[0] != "equal")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("fmt", "label", "sample"), [
    ("model_card_toolkit", "Model Card Toolkit JSON", "model_card_toolkit/cats_vs_dogs_v0_0_2.json"),
    ("huggingface", "Hugging Face model card", "hf_model_cards/openinstruct-mistral-7b_README.md"),
])
def test_a_browser_save_keeps_the_export_byte_identical(page, live_server, personas, fmt, label, sample):
    path = SAMPLES / sample
    system = make_system(personas)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/systems/{system.slug}/model-card/")
    page.get_by_label("Format").select_option(label=label)
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url("**/model-card/v1/")
    assert "What the import read" in page.locator("main").inner_text()
    export_url = f"{live_server.url}/systems/{system.slug}/model-card/v1/export/{fmt}/"

    page.goto(f"{live_server.url}/systems/{system.slug}/model-card/")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/model-card/v1/")
    assert page.request.get(export_url).body() == path.read_bytes()

    page.goto(f"{live_server.url}/systems/{system.slug}/model-card/")
    limitations = page.get_by_label("Limitations")
    limitations.fill(limitations.input_value() + "\n- Not tested on drawings.")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/model-card/v1/")
    edited = page.request.get(export_url).body()
    assert b"Not tested on drawings." in edited and hunks(path.read_bytes(), edited) == 1
    if fmt == "model_card_toolkit":
        assert edited.count(b'"image": "iVBOR') == path.read_bytes().count(b'"image": "iVBOR') == 2
        assert json.loads(edited)["considerations"]["limitations"][-1] == {"description": "Not tested on drawings."}
    assert "\r" not in ModelCard.objects.get(system=system).limitations
