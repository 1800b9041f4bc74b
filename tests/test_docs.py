"""docs/architecture.md names real code: every file path it mentions exists, and every dotted name is
either a registered Celery task or an importable object. A move or a rename that leaves the page
behind fails here, so the map stays true."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from clearance.celery import app

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
PATH = re.compile(r"\b(?:catalog|clearance|compliance|governance|intake|policies|provisioning)(?:/[a-z_]+)*/[a-z_]+\.(?:py|yaml)\b")
DOTTED = re.compile(r"\b(?:catalog|clearance|compliance|governance|intake|provisioning)(?:\.[a-z_]+)+\b")


def test_every_path_on_the_architecture_page_exists():
    text = PAGE.read_text()
    paths = sorted(set(PATH.findall(text)))
    assert len(paths) > 40, "the page should name the modules it describes"
    assert [p for p in paths if not (ROOT / p).is_file()] == []
    packages = {"catalog/connectors/", "catalog/lib/", "governance/policy/", "clearance/demo/"}
    for package in packages & set(re.findall(r"\b[a-z]+/[a-z_]+/", text)):
        assert (ROOT / package).is_dir(), package


def test_every_dotted_name_on_the_architecture_page_is_a_task_or_importable():
    app.loader.import_default_modules()
    missing = []
    for name in sorted(set(DOTTED.findall(PAGE.read_text()))):
        if name in app.tasks:
            continue
        module, _, attr = name.rpartition(".")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            missing.append(name)
    assert missing == []
