"""The audit dossier built by a real Celery worker: queued by the page, progress on the row, a PDF."""

from __future__ import annotations

import pytest

from catalog.services.cards import model_card_draft, model_card_publish
from governance.models import DocumentExport
from governance.services import exports
from tests.test_celery_worker import wait_for, worker  # noqa: F401 - the fixture

pytestmark = pytest.mark.celery_worker


def test_worker_builds_the_dossier_requested_from_the_page(worker, client, request_in_review, personas):  # noqa: F811
    system = request_in_review.system
    draft = model_card_draft(actor=personas["owner"], system=system, model_details="m",
                                     intended_use="Summaries", limitations="l")
    model_card_publish(actor=personas["owner"], card=draft)
    client.force_login(personas["auditor"])
    response = client.post(f"/systems/{system.slug}/dossier/")
    job = DocumentExport.objects.get(kind="dossier", system=system)
    assert response.status_code == 302

    def done() -> bool:
        job.refresh_from_db()
        return job.finished

    wait_for(done, 120, "the dossier export")
    assert job.status == "succeeded", job.error
    path = exports.export_file(job)
    assert path is not None and path.read_bytes().startswith(b"%PDF-") and job.pages >= 2
    assert not list(path.parent.glob(".partial-*"))
    path.unlink()
