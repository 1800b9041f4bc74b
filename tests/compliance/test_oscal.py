"""OSCAL catalogs: every shipped framework exports as a catalog trestle's OSCAL model accepts and
imports back to the same controls; a real NIST catalog imports; hostile catalogs are refused with the
JSON path and nothing is written (no file, no record, no audit event)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from trestle.oscal.catalog import Catalog

from clearance.errors import DomainError, NotAllowed
from clearance.models import AuditEvent
from compliance.loader import Framework, import_dir, load_library
from compliance.models import FrameworkImport
from compliance.oscal import MAX_OSCAL_BYTES, export_json
from compliance.services import framework_import

SAMPLE = (Path(__file__).resolve().parents[1] / "samples" / "oscal"
          / "NIST_SP-800-53_rev4_LOW-baseline-resolved-profile_catalog-min.json")
LIBRARY = load_library()


def _shape(framework: Framework) -> list[tuple[object, ...]]:
    return [(c.id, c.family, c.title, " ".join(c.summary.split()), c.ref, c.applies, c.applies_from, c.date_source,
             c.condition_note) for c in framework.controls]


def _import(raw: bytes, framework_id: str, actor: object = None) -> Path:
    return framework_import(actor=actor, raw=raw, framework_id=framework_id, licence="CC0 1.0",
                            source_url="https://example.org/catalog.json")


@pytest.mark.django_db
@pytest.mark.parametrize("framework_id", sorted(LIBRARY.frameworks))
def test_export_validates_and_imports_back_to_the_same_controls(framework_id):
    framework = LIBRARY.frameworks[framework_id]
    text = export_json(framework, timezone.now())
    document = json.loads(text)
    Catalog.model_validate(document["catalog"])  # trestle's OSCAL model, on what we wrote
    _import(text.encode(), f"copy-{framework_id}")
    copy = load_library().frameworks[f"copy-{framework_id}"]
    assert _shape(copy) == _shape(framework)
    assert [(f.id, f.title, f.function) for f in copy.families] == [
        (f.id, f.title, f.function) for f in framework.families if any(c.family == f.id for c in framework.controls)]
    assert FrameworkImport.objects.get().controls == len(framework.controls)
    assert AuditEvent.objects.filter(action="compliance.framework_imported").count() == 1


@pytest.mark.django_db
def test_a_real_nist_catalog_imports_with_its_enhancements_as_controls():
    raw = SAMPLE.read_bytes()
    document = json.loads(raw)
    expected = 0

    def count(controls: list[dict[str, object]]) -> None:
        nonlocal expected
        for control in controls:
            expected += 1
            count(control.get("controls", []))  # type: ignore[arg-type]

    for group in document["catalog"]["groups"]:
        count(group.get("controls", []))
    path = _import(raw, "nist-800-53-low")
    assert path.parent == import_dir()
    framework = load_library().frameworks["nist-800-53-low"]
    assert len(framework.controls) == expected > 100
    assert [f.id for f in framework.families][:3] == ["ac", "at", "au"]
    ac2 = next(c for c in framework.controls if c.id == "ac-2")
    assert ac2.title == "Account Management" and ac2.family == "ac" and ac2.summary
    # Every control is attestation-evidenced until a mapping says more: the pages judge it.
    assert load_library().mapping_for("default", ac2.key).attestation


def _catalog(**catalog: object) -> bytes:
    base: dict[str, object] = {
        "uuid": "74c8ba1e-5cd4-4ad1-bbfd-d888e2f6c724",
        "metadata": {"title": "T", "last-modified": "2026-01-01T00:00:00+00:00", "version": "1",
                     "oscal-version": "1.1.2"},
        "groups": [{"id": "g1", "title": "Group", "controls": [{"id": "c1", "title": "One"}]}],
    }
    base.update(catalog)
    return json.dumps({"catalog": base}).encode()


def _deep(levels: int) -> bytes:
    group: dict[str, object] = {"id": "g0", "title": "x", "controls": [{"id": "c0", "title": "x"}]}
    for n in range(1, levels):
        group = {"id": f"g{n}", "title": "x", "groups": [group]}
    return _catalog(groups=[group])


HOSTILE = [
    (b"{", "not JSON we can read"),
    (b"[]", "an OSCAL catalog is an object with a `catalog` object"),
    (json.dumps({"catalog": {}, "extra": 1}).encode(), "unexpected key(s) extra"),
    (_catalog(uuid="not-a-uuid"), "catalog.uuid:"),
    (_catalog(metadata={"title": "T"}), "catalog.metadata."),
    (_catalog(groups=[{"id": "g1", "title": 5}]), "catalog.groups[0].title"),
    (_catalog(groups=[{"id": "g1", "title": "G", "controls": [{"id": "c1", "title": "One"},
                                                              {"id": "c1", "title": "Again"}]}]),
     "catalog.groups[0].controls[1].id: duplicate control id 'c1' (first at catalog.groups[0].controls[0].id)"),
    (_catalog(groups=[{"id": "g1", "title": "G", "controls": [{"id": "c1", "title": "x" * 401}]}]),
     "catalog.groups[0].controls[0].title: the title has 401 characters"),
    (_catalog(groups=[{"id": "g1", "title": "G"}]), "catalog: the catalog has no control"),
    (_deep(80), "nested deeper than 64 levels"),
    (b" " * (MAX_OSCAL_BYTES + 1), f"at most {MAX_OSCAL_BYTES:,}"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("raw", "said"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_catalogs_are_refused_with_the_path_and_nothing_is_written(raw, said):
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError) as refused:
        _import(raw, "hostile")
    assert said in refused.value.message and refused.value.field == "catalog", refused.value.message
    assert not import_dir().exists() or not list(import_dir().iterdir())
    assert FrameworkImport.objects.count() == 0 and AuditEvent.objects.count() == events
    assert "hostile" not in load_library().frameworks


@pytest.mark.django_db
def test_an_import_may_not_take_a_shipped_id_and_replacing_an_import_is_whole(personas):
    with pytest.raises(DomainError) as clash:
        _import(export_json(LIBRARY.frameworks["iso-42001"], timezone.now()).encode(), "eu-ai-act")
    assert "framework id 'eu-ai-act' is already defined" in clash.value.message
    with pytest.raises(NotAllowed):
        _import(SAMPLE.read_bytes(), "mine", actor=personas["owner"])
    _import(export_json(LIBRARY.frameworks["nist-ai-600-1"], timezone.now()).encode(), "mine", actor=personas["lead"])
    first = load_library().frameworks["mine"]
    # A bad replacement leaves the earlier import as it was.
    with pytest.raises(DomainError):
        _import(_catalog(uuid="bad"), "mine")
    assert _shape(load_library().frameworks["mine"]) == _shape(first)
    _import(SAMPLE.read_bytes(), "mine")
    assert len(load_library().frameworks["mine"].controls) > len(first.controls)
    assert [p.name for p in import_dir().iterdir()] == ["mine.yaml"]  # no temporary file left behind


@pytest.mark.django_db
def test_upload_form_and_export_download(client, personas):
    client.force_login(personas["lead"])
    page = client.get(reverse("compliance-coverage") + "?framework=iso-42001")
    assert reverse("compliance-framework-import").encode() in page.content
    download = client.get(reverse("compliance-framework-oscal", args=["iso-42001"]))
    assert download.status_code == 200 and download["Content-Type"] == "application/json"
    assert client.get(reverse("compliance-framework-oscal", args=["no-such"])).status_code == 404
    body = {"framework_id": "ours", "source_url": "https://example.org/c.json", "licence": "Internal"}
    bad = client.post(reverse("compliance-framework-import"),
                      {**body, "catalog": SimpleUploadedFile("c.json", _catalog(uuid="x"), "application/json")})
    assert bad.status_code == 400 and b"OSCAL catalog" in bad.content and b"catalog.uuid" in bad.content
    assert not FrameworkImport.objects.exists()
    good = client.post(reverse("compliance-framework-import"),
                       {**body, "catalog": SimpleUploadedFile("c.json", download.content, "application/json")})
    assert good.status_code == 302 and "framework=ours" in good["Location"]
    assert client.get(good["Location"]).status_code == 200
    assert len(load_library().frameworks["ours"].controls) == len(LIBRARY.frameworks["iso-42001"].controls)


@pytest.mark.django_db
def test_management_command_exports_and_imports(tmp_path, capsys):
    out = tmp_path / "rmf.json"
    call_command("framework_oscal", "export", "nist-ai-rmf", "--output", str(out))
    call_command("framework_oscal", "import", str(out), "--id", "rmf-copy", "--licence", "ours",
                 "--source-url", "https://example.org/rmf.json")
    assert _shape(load_library().frameworks["rmf-copy"]) == _shape(LIBRARY.frameworks["nist-ai-rmf"])
    broken = tmp_path / "broken.json"
    broken.write_bytes(_catalog(groups=[{"id": "g1", "title": 5}]))
    with pytest.raises(CommandError, match=r"catalog\.groups\[0\]\.title"):
        call_command("framework_oscal", "import", str(broken), "--id", "broken", "--licence", "x",
                     "--source-url", "https://example.org/b.json")
    with pytest.raises(CommandError, match="no framework 'nope'"):
        call_command("framework_oscal", "export", "nope")
