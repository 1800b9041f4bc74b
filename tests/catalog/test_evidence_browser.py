"""In a real browser: "Sync now" opens the run page, whose progress fragment htmx polls from the run
row until the worker finishes; the charts render under our CSP with no script of their own."""

from __future__ import annotations

import pytest

from catalog.models import SyncRun
from catalog.services.evidence import source_create, sync_run_execute
from catalog.services.systems import system_set_evaluation_target
from tests.catalog.evidence_helpers import copy_sample, make_system
from tests.conftest import BROWSER_MARKS, PASSWORD

pytestmark = BROWSER_MARKS


@pytest.mark.django_db(transaction=True)
def test_sync_now_progress_is_polled_until_the_run_finishes(page, live_server, personas, tmp_path, settings):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    system = make_system(personas)
    system_set_evaluation_target(actor=personas["owner"], system=system, metric="acc", threshold=0.2)
    source = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="ARC nightly",
                                    location=str(copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", tmp_path)))
    csp_violations: list[str] = []
    page.on("console", lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}{source.get_absolute_url()}")
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url("**/evidence/runs/*/")
    assert "Queued" in page.locator("#run-progress").inner_text()
    run = SyncRun.objects.get(source=source)

    assert sync_run_execute(run_id=run.pk) == "succeeded"  # what the worker does
    page.locator("#run-progress >> text=Succeeded").wait_for(timeout=15000)
    text = page.locator("#run-progress").inner_text()
    assert "2\nadded" in text and "0\nrejected" in text
    assert page.locator("progress.sync").get_attribute("value") == "100"

    page.goto(f"{live_server.url}/systems/{system.slug}/")
    chart = page.locator('svg[aria-label="acc over time"]')
    assert chart.is_visible() and chart.locator("circle").count() == 1
    assert not csp_violations, csp_violations
