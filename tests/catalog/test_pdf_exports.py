"""PDF exports: rendered to PNG with pdftoppm and read back with pdftotext; failures leave no file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from catalog.services.cards import model_card_draft, model_card_publish
from clearance.models import AuditEvent
from governance.models import DocumentExport
from governance.services import exports
from governance.services.decisions import decision_record_decide, decision_record_propose

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm) is not installed"),
]


@pytest.fixture(autouse=True)
def _export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


@pytest.fixture
def system(request_in_review):
    return request_in_review.system


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def pdf_to_png(path: Path, out: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(out / "page")], check=True, capture_output=True)
    return sorted(out.glob("page-*.png"))


def card(system, personas, **extra):
    draft = model_card_draft(actor=personas["owner"], system=system, template="llm_rag",
                                     model_details="gpt-4o on Azure, EU data zone", intended_use="Ticket summaries",
                                     limitations="Misses attachments", **extra)
    return model_card_publish(actor=personas["owner"], card=draft)


def test_model_card_pdf_renders_to_png_with_its_text(system, personas, tmp_path):
    published = card(system, personas)
    job = exports.export_request(actor=personas["owner"], system=system, kind="model_card", object_id=published.pk)
    job = exports.export_run(export_id=job.pk)
    assert job.status == "succeeded" and job.progress == 100
    path = exports.export_file(job)
    pngs = pdf_to_png(path, tmp_path)
    assert len(pngs) == job.pages and 1 <= job.pages <= 3
    assert all(p.stat().st_size > 1000 for p in pngs)
    text = pdf_text(path)
    assert "Support ticket summaries — model card v1" in text
    assert "Misses attachments" in text and "faithfulness" in text and ">= 0.9" in text
    assert "Model card v1" in text.splitlines()[0]  # the running header
    assert f"Page 1 of {job.pages}" in text
    assert AuditEvent.objects.filter(action="export.generated", object_id=str(job.pk)).exists()


def test_decision_pdf_has_the_adr_fields_and_chain(system, personas):
    old = decision_record_propose(actor=personas["owner"], system=system, title="Use gpt-4o", context="Need it",
                                  decision="Use gpt-4o")
    old = decision_record_decide(actor=personas["lead"], record=old, to="accepted")
    new = decision_record_propose(actor=personas["owner"], system=system, title="Pin the version",
                                  context="Aliases drift", decision="Pin", options="- follow alias\n- pin",
                                  supersedes=old)
    decision_record_decide(actor=personas["lead"], record=new, to="accepted")
    job = exports.export_run(export_id=exports.export_request(
        actor=personas["auditor"], system=system, kind="decision", object_id=new.pk).pk)
    text = pdf_text(exports.export_file(job))
    for expected in (f"ADR-{new.pk}: Pin the version", "Options considered", "Aliases drift",
                     "Chain of supersession", f"ADR-{old.pk}: Use gpt-4o (Superseded)"):
        assert expected in text


def test_missing_font_fails_the_job_with_the_error_and_leaves_no_file(system, personas, settings, _export_dir):
    published = card(system, personas)
    settings.PDF_FONT_FILES = ["/nonexistent/fonts/ClearanceSans.ttf"]
    job = exports.export_run(export_id=exports.export_request(
        actor=personas["owner"], system=system, kind="model_card", object_id=published.pk).pk)
    assert job.status == "failed" and "font missing: /nonexistent/fonts/ClearanceSans.ttf" in job.error
    assert exports.export_file(job) is None
    assert not _export_dir.exists() or list(_export_dir.iterdir()) == []
    assert AuditEvent.objects.filter(action="export.failed", object_id=str(job.pk)).exists()


def test_broken_template_fails_the_job_and_leaves_no_file(system, personas, settings, tmp_path, _export_dir):
    broken = tmp_path / "templates" / "pdf"
    broken.mkdir(parents=True)
    (broken / "model_card.html").write_text("{% extends 'pdf/base.html' %}{% block body %}{% if %}{% endblock %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path / "templates"), *settings.TEMPLATES[0]["DIRS"]]}]
    published = card(system, personas)
    job = exports.export_run(export_id=exports.export_request(
        actor=personas["owner"], system=system, kind="model_card", object_id=published.pk).pk)
    assert job.status == "failed" and "TemplateSyntaxError" in job.error
    assert not _export_dir.exists() or list(_export_dir.iterdir()) == []


def test_a_claimed_job_is_not_run_twice(system, personas):
    published = card(system, personas)
    job = exports.export_request(actor=personas["owner"], system=system, kind="model_card", object_id=published.pk)
    assert exports.export_run(export_id=job.pk) is not None
    assert exports.export_run(export_id=job.pk) is None
    assert AuditEvent.objects.filter(action="export.generated", object_id=str(job.pk)).count() == 1


def test_dossier_has_every_part_an_auditor_needs(system, personas):
    from tests.conftest import make_ready

    make_ready(system, personas)
    record = decision_record_propose(actor=personas["owner"], system=system, title="Deploy to production",
                                     context="Pilot went well", decision="Go live")
    decision_record_decide(actor=personas["lead"], record=record, to="accepted")
    from governance.services.readiness import readiness_recompute

    readiness_recompute(system_id=system.pk)
    job = exports.export_run(export_id=exports.export_request(
        actor=personas["auditor"], system=system, kind="dossier").pk)
    assert job.status == "succeeded", job.error
    text = pdf_text(exports.export_file(job))
    for expected in ("Audit dossier: Support ticket summaries", "1. Current readiness", "Production: PASS",
                     "2. Model card", "3. Decision records (1)", "Deploy to production", "4. Approvals and reviews",
                     "Checked.", "5. Evaluation evidence (1 results)", "rouge_l", "6. Risks and acceptances (0)", "7. Timeline",
                     "Model card published"):
        assert expected in text, expected


def test_dossier_pages_queue_poll_and_download(client, system, personas, settings):
    card(system, personas)
    client.force_login(personas["auditor"])
    response = client.post(f"/systems/{system.slug}/dossier/")
    job = DocumentExport.objects.get(kind="dossier")
    assert response.status_code == 302 and response["Location"] == f"/exports/{job.pk}/"
    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "Queued" in page
    exports.export_run(export_id=job.pk)  # what the worker does (tests/catalog/test_dossier_worker.py runs it for real)
    partial = client.get(f"/exports/{job.pk}/progress/").content.decode()
    assert "hx-trigger" not in partial and "Download PDF" in partial
    download = client.get(f"/exports/{job.pk}/download/")
    assert download["Content-Type"] == "application/pdf" and b"".join(download.streaming_content).startswith(b"%PDF-")
    assert AuditEvent.objects.filter(action="export.downloaded", object_id=str(job.pk)).count() == 1
    client.force_login(personas["outsider"])
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
