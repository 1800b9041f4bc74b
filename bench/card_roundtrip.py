"""Model card round trips through the web form, on every sample card in tests/samples.

    uv run python bench/card_roundtrip.py

For each Hugging Face README and Model Card Toolkit JSON it imports the file through the import
page, then exports it: unedited; after saving the edit form as a browser does (textareas come back
with CRLF line breaks) without touching anything; after one edit (a sentence added to one section);
and after adding a section the file did not have. It prints the bytes of each export, whether it is
byte-identical to the file, how many places (diff hunks) differ, and for MCT files how many base64
graphics survived. Figures, not assertions (the tests assert them).
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from tests.browserlike import form_fields  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"


def samples() -> list[tuple[str, Path]]:
    hf = [p for p in sorted((SAMPLES / "hf_model_cards").glob("*.md")) if "template" not in p.name]
    mct = [p for p in sorted((SAMPLES / "model_card_toolkit").glob("*.json")) if "schema" not in p.name]
    return [("huggingface", p) for p in hf] + [("model_card_toolkit", p) for p in mct]


def hunks(a: str, b: str) -> int:
    matcher = difflib.SequenceMatcher(None, a.splitlines(keepends=True), b.splitlines(keepends=True), autojunk=False)
    return sum(1 for op in matcher.get_opcodes() if op[0] != "equal")


def graphics(text: str) -> int:
    def count(node: object) -> int:
        if isinstance(node, dict):
            return int("image" in node) + sum(count(v) for v in node.values())
        if isinstance(node, list):
            return sum(count(v) for v in node)
        return 0
    return count(json.loads(text))


def main() -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from catalog.lib.card_formats import SECTIONS
    from catalog.models import ModelCard
    from catalog.services.systems import system_create

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    User = get_user_model()
    owner = User.objects.create_user(username="bench-owner", password="x")
    owner.groups.add(Group.objects.get_or_create(name="system-owner")[0])
    lead = User.objects.create_user(username="bench-lead", password="x")
    lead.groups.add(Group.objects.get_or_create(name="governance-lead")[0])
    client = Client()
    client.force_login(owner)

    print(f"{'file':<42}{'bytes':>7} | {'unedited':>10} | {'form, no edit':>15} | {'one edit':>17} | "
          f"{'section added':>17} | graphics")
    for number, (fmt, path) in enumerate(samples()):
        original = path.read_text(encoding="utf-8")
        system = system_create(actor=lead, name=f"Sample {number}", slug=f"sample-{number}", purpose="Round trips",
                               risk_tier="minimal", business_owner=owner, technical_owner=owner, risk_owner=owner)
        base = f"/systems/{system.slug}/model-card"
        with path.open("rb") as handle:
            client.post(f"{base}/import/", {"format": fmt, "file": handle})
        card = ModelCard.objects.get(system=system)

        def export(card: ModelCard = card, fmt: str = fmt, base: str = base) -> str:
            return client.get(f"{base}/v{card.version}/export/{fmt}/").content.decode()

        def save(changes: dict[str, str], base: str = base) -> None:
            data = form_fields(client.get(f"{base}/").content.decode(), having="model_details")
            for name, value in changes.items():
                data[name] = value.replace("\n", "\r\n")
            data["save"] = "1"
            client.post(f"{base}/", data)

        def cell(text: str, original: str = original) -> str:
            same = "identical" if text == original else f"{hunks(original, text)} hunk(s)"
            return f"{len(text.encode()):>6} {same:>10}"

        unedited = export()
        save({})
        card.refresh_from_db()
        no_edit = export()
        present = [s for s in SECTIONS if getattr(card, s).strip()]
        target = "limitations" if "limitations" in present else (present[0] if present else "limitations")
        edited_value = (getattr(card, target).rstrip() + "\n- Not tested on scanned documents.").strip()
        save({target: edited_value})
        one_edit = export()
        save({target: getattr(card, target)})  # put it back
        missing = [s for s in ("limitations", "out_of_scope_use", "caveats") if not getattr(card, s).strip()]
        added = export()
        if missing:
            save({missing[0]: "Not for decisions about people."})
            added = export()
            save({missing[0]: ""})
        g = f"{graphics(original)} → {graphics(one_edit)}" if fmt == "model_card_toolkit" else ""
        print(f"{path.name[:41]:<42}{len(original.encode()):>7} | {cell(unedited):>10} | {cell(no_edit):>15} | "
              f"{cell(one_edit):>17} | {cell(added) if missing else '—':>17} | {g}")


if __name__ == "__main__":
    main()
