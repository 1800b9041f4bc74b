"""Ingestion through sync runs: idempotent by natural key, all-or-nothing per run, counted, and
failing readably when the source is down, slow, redirects elsewhere or answers garbage."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.connectors import CONNECTORS
from catalog.connectors.focus import FocusConnector
from catalog.models import CostRecord, EvalResult, EvidenceSource, StagedCost, SyncRun
from catalog.services.evidence import source_create, source_update, sync_request, sync_run_execute, sync_sweep
from clearance.models import AuditEvent, OutboxMessage
from tests.catalog.evidence_helpers import copy_sample, make_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def allowed(tmp_path, settings):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def system(personas):
    return make_system(personas)


def source(system, personas, kind, location, **options) -> EvidenceSource:
    return source_create(actor=personas["owner"], system=system, kind=kind, name=f"{kind} source",
                                  location=str(location), **options)


def sync(src: EvidenceSource, actor=None) -> SyncRun:
    run, created = sync_request(actor=actor, source=src)
    assert created
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_lm_eval_sync_adds_once_and_a_rerun_adds_nothing(allowed, system, personas):
    path = copy_sample("lm_eval/results_llama3-8b-instruct_gsm8k_2024-08-25.json", allowed)
    src = source(system, personas, "lm_eval", path)
    first = sync(src, personas["owner"])
    assert (first.status, first.rows_read, first.rows_added, first.rows_duplicate, first.rows_skipped) == (
        "succeeded", 2, 2, 0, 0)
    assert first.error == "" and first.percent == 100
    assert EvalResult.objects.filter(system=system, evidence_source=src).count() == 2
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness",
                                        kwargs__system_id=system.pk).exists(), "readiness recomputes when evidence lands"
    again = sync(src)
    assert (again.status, again.rows_read, again.rows_added, again.rows_duplicate) == ("succeeded", 2, 0, 2)
    assert EvalResult.objects.filter(system=system).count() == 2
    assert AuditEvent.objects.filter(action="evidence_source.synced").count() == 1, "only the run that added is audited"


def test_duplicate_delivery_of_the_same_run_does_nothing(allowed, system, personas):
    src = source(system, personas, "lm_eval", copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed))
    run, _ = sync_request(actor=None, source=src)
    assert sync_run_execute(run_id=run.pk) == "succeeded"
    assert sync_run_execute(run_id=run.pk) == "not-claimed"
    assert EvalResult.objects.count() == 2


def test_one_active_run_per_source(allowed, system, personas):
    src = source(system, personas, "lm_eval", copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed))
    run, created = sync_request(actor=None, source=src)
    again, created_again = sync_request(actor=None, source=src)
    assert created and not created_again and again.pk == run.pk


def test_focus_skips_bad_rows_with_reason_and_keeps_the_good(allowed, system, personas):
    path = allowed / "focus.csv"
    path.write_text("\n".join([
        "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,ResourceId",
        "1.50,1.25,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r1",
        "x,1.25,USD,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r2",
        "1.50,1.25,USD,2026-01-02T00:00:00Z,2026-01-03T00:00:00Z,LLM,r1",
        "1.50,1.25,USD,2026-01-02T00:00:00Z,2026-01-03T00:00:00Z,LLM,r1",  # two identical rows: two charges
    ]) + "\n")
    run = sync(source(system, personas, "focus", path))
    assert (run.status, run.rows_read, run.rows_added, run.rows_duplicate, run.rows_skipped) == ("succeeded", 4, 3, 0, 1)
    assert run.row_errors == [{"row": "row 3", "reason": "BilledCost: 'x' is not a number"}]
    assert CostRecord.objects.filter(system=system).count() == 3
    assert not StagedCost.objects.exists()


def test_missing_focus_column_fails_and_commits_nothing(allowed, system, personas):
    run = sync(source(system, personas, "focus", copy_sample("focus/commitment_discount_usage_scenario_1.csv", allowed)))
    assert run.status == "failed" and "missing required FOCUS column(s): BillingCurrency" in run.error
    assert not CostRecord.objects.exists() and not StagedCost.objects.exists()
    assert AuditEvent.objects.filter(action="evidence_source.sync_failed").exists()


def test_every_row_rejected_fails_the_run(allowed, system, personas):
    path = allowed / "focus.csv"
    path.write_text("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd\n"
                    "1,1,USD,5/40/25,5/2/25\n")
    run = sync(source(system, personas, "focus", path))
    assert run.status == "failed" and "every row was rejected (1); first: row 2: ChargePeriodStart" in run.error
    assert run.rows_skipped == 1 and not CostRecord.objects.exists()


def test_real_saas_focus_export_lands_and_is_idempotent(allowed, system, personas):
    src = source(system, personas, "focus", copy_sample("focus/virtual_currency_pricing_model_a2.csv", allowed))
    assert sync(src).rows_added == 3
    assert sync(src).rows_duplicate == 3
    assert CostRecord.objects.filter(system=system, evidence_source=src).count() == 3


def test_a_run_killed_mid_way_leaves_nothing_and_the_sweep_fails_it(allowed, system, personas, settings, monkeypatch):
    """Staged batches commit as they go, but nothing reaches CostRecord until the final swap."""
    settings.EVIDENCE_BATCH_ROWS = 2
    path = allowed / "focus.csv"
    rows = [f"1,1,USD,2026-01-{d:02d}T00:00:00Z,2026-01-{d + 1:02d}T00:00:00Z,LLM,r" for d in range(1, 11)]
    path.write_text("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,ResourceId\n"
                    + "\n".join(rows) + "\n")
    src = source(system, personas, "focus", path)

    class WorkerKilled(BaseException):  # like SIGKILL: no except clause in the service sees it
        pass

    original = FocusConnector.fetch

    def dies_after_six(self) -> Iterator:
        for n, item in enumerate(original(self)):
            if n == 6:
                raise WorkerKilled
            yield item

    monkeypatch.setattr(FocusConnector, "fetch", dies_after_six)
    run, _ = sync_request(actor=None, source=src)
    with pytest.raises(WorkerKilled):
        sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "running" and run.rows_read >= 4, "progress was committed as the run went"
    assert StagedCost.objects.filter(run=run).count() >= 4
    assert not CostRecord.objects.exists(), "nothing of the run is evidence yet"

    assert sync_sweep(now=timezone.now())["reaped"] == 0, "the lease still holds"
    result = sync_sweep(now=run.lease_until + timedelta(seconds=1))
    assert result["reaped"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("interrupted")
    assert not StagedCost.objects.exists() and not CostRecord.objects.exists()

    monkeypatch.setattr(FocusConnector, "fetch", original)
    rerun = sync(src)
    assert rerun.rows_added == 10 and CostRecord.objects.count() == 10


def test_schedule_dispatches_due_sources_once(allowed, system, personas):
    src = source(system, personas, "lm_eval", copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed),
                 interval_minutes=60)
    assert sync_sweep()["queued"] == 1
    assert sync_sweep()["queued"] == 0, "not due again, and one run is already active"
    src.refresh_from_db()
    assert timedelta(minutes=59) < src.next_sync_at - timezone.now() <= timedelta(minutes=60)
    run = SyncRun.objects.get(source=src)
    assert run.trigger == "schedule"
    assert OutboxMessage.objects.filter(task_name="catalog.sync_source", kwargs__run_id=run.pk).exists()
    # The interval is data: an owner edits it and it applies from now, no deploy.
    source_update(actor=personas["owner"], source=src, interval_minutes=15)
    src.refresh_from_db()
    assert src.next_sync_at - timezone.now() <= timedelta(minutes=15)


def test_a_lost_queued_run_is_sent_again(allowed, system, personas):
    src = source(system, personas, "lm_eval", copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed))
    run, _ = sync_request(actor=None, source=src)
    before = OutboxMessage.objects.filter(task_name="catalog.sync_source").count()
    assert sync_sweep(now=run.lease_until + timedelta(seconds=1))["resent"] == 1
    assert OutboxMessage.objects.filter(task_name="catalog.sync_source").count() == before + 1


# --- sources over HTTP ---------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        status, headers, body, delay = self.routes.get(self.path.split("?")[0], (404, {}, b"no", 0))
        time.sleep(delay)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(local_evidence_hosts) -> Iterator[tuple[str, dict]]:
    routes: dict = {}
    handler = type("H", (Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_url_source_with_same_host_redirect(server, system, personas):
    base, routes = server
    body = copy_sample.__globals__["sample"]("lm_eval/legacy_arc_challenge-v2.0-res.json").read_bytes()
    routes["/latest.json"] = (302, {"Location": "/runs/42.json"}, b"", 0)
    routes["/runs/42.json"] = (200, {"Content-Type": "application/json",
                                     "Last-Modified": "Wed, 18 Nov 2026 08:00:00 GMT"}, body, 0)
    run = sync(source(system, personas, "lm_eval", f"{base}/latest.json", default_model_version="v1"))
    assert run.status == "succeeded" and run.rows_added == 2
    assert {e.observed_at.isoformat() for e in EvalResult.objects.all()} == {"2026-11-18T08:00:00+00:00"}


def test_redirect_to_another_host_is_refused(server, system, personas):
    base, routes = server
    port = base.rsplit(":", 1)[1]
    routes["/results.json"] = (302, {"Location": f"http://localhost:{port}/results.json"}, b"", 0)
    run = sync(source(system, personas, "lm_eval", f"{base}/results.json"))
    assert run.status == "failed" and "refused to follow a redirect to http://localhost" in run.error


def test_source_down_fails_readably_and_keeps_previous_evidence(allowed, server, system, personas):
    base, routes = server
    body = copy_sample.__globals__["sample"]("lm_eval/legacy_arc_challenge-v2.0-res.json").read_bytes()
    routes["/r.json"] = (200, {"Last-Modified": "Wed, 18 Nov 2026 08:00:00 GMT"}, body, 0)
    src = source(system, personas, "lm_eval", f"{base}/r.json")
    assert sync(src).rows_added == 2
    routes["/r.json"] = (503, {}, b"maintenance", 0)
    run = sync(src)
    assert run.status == "failed" and "answered HTTP 503" in run.error
    routes["/r.json"] = (200, {"Content-Type": "text/html"}, b"<html>login</html>", 0)
    run = sync(src)
    assert run.status == "failed" and "is not valid JSON" in run.error
    assert EvalResult.objects.filter(evidence_source=src).count() == 2, "previous evidence is kept"


def test_source_that_times_out(server, system, personas, settings):
    settings.EVIDENCE_HTTP_TIMEOUT = 0.5
    base, routes = server
    routes["/slow.json"] = (200, {}, b"{}", 2)
    run = sync(source(system, personas, "lm_eval", f"{base}/slow.json"))
    assert run.status == "failed" and "did not answer within 0.5 s" in run.error


def test_unreachable_source_is_retried_then_failed(local_evidence_hosts, system, personas):
    src = source(system, personas, "lm_eval", "http://127.0.0.1:9/results.json")
    run, _ = sync_request(actor=None, source=src)
    assert sync_run_execute(run_id=run.pk, final_attempt=False) == "retry"
    run.refresh_from_db()
    assert run.status == "queued" and run.error.startswith("attempt 1 failed: could not reach 127.0.0.1:9")
    assert sync_run_execute(run_id=run.pk, final_attempt=True) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and run.attempts == 2 and "could not reach" in run.error


def test_every_connector_kind_is_registered():
    assert set(CONNECTORS) == {"mlflow", "lm_eval", "promptfoo", "focus", "openai_costs"}


def test_openai_costs_over_http_follows_pages(server, system, personas):
    base, routes = server
    page = json.loads(copy_sample.__globals__["sample"]("cost_apis/openai_organization_costs_response_example.json").read_text())
    routes["/v1/organization/costs"] = (200, {}, json.dumps(page).encode(), 0)
    run = sync(source(system, personas, "openai_costs", f"{base}/v1/organization/costs", auth_kind="bearer"))
    assert run.status == "succeeded" and run.rows_added == 1
