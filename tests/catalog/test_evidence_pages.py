"""Evidence pages: sources configured through forms (credentials never shown back), sync now with a
progress fragment that htmx polls, requirements and budget, charts, and the portfolio matrix."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import CostRecord, EvidenceSource, SyncRun
from catalog.services.evidence import (
    budget_set,
    eval_result_record,
    metric_requirement_set,
    source_create,
    sync_request,
    sync_run_execute,
)
from tests.catalog.evidence_helpers import copy_sample, make_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def allowed(tmp_path, settings):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    return tmp_path


def form_data(**overrides) -> dict:
    base = {"name": "Nightly evals", "kind": "mlflow", "location": "https://mlflow.example.com",
            "experiment": "support-copilot", "run_filter": "tags.ai_system = 'support-copilot'",
            "metrics": "rouge_l\nlatency_ms", "model_version_key": "model_version", "dataset_key": "dataset",
            "auth_kind": "bearer", "secret": "s3cr3t-token-value", "enabled": "on", "interval_minutes": "60"}
    base.update(overrides)
    return base


def test_owner_adds_a_source_and_the_credential_is_never_shown_back(client, personas):
    system = make_system(personas)
    client.force_login(personas["owner"])
    response = client.post(reverse("evidence-source-create", args=[system.slug]), form_data())
    source = EvidenceSource.objects.get(system=system)
    assert response.status_code == 302 and response["Location"] == source.get_absolute_url()
    assert source.metrics == ["rouge_l", "latency_ms"] and source.interval_minutes == 60
    assert source.secret_encrypted and "s3cr3t" not in source.secret_encrypted
    for url in (reverse("evidence-source-edit", args=[source.pk]), reverse("evidence-source-detail", args=[source.pk]),
                reverse("system-evidence", args=[system.slug]), reverse("system-detail", args=[system.slug])):
        body = client.get(url).content.decode()
        assert "s3cr3t" not in body and source.secret_encrypted not in body, url
    # Saving the form without typing the credential keeps it; clearing it removes it.
    client.post(reverse("evidence-source-edit", args=[source.pk]), form_data(secret="", interval_minutes="30"))
    source.refresh_from_db()
    assert source.secret_encrypted and source.interval_minutes == 30
    from catalog.services.evidence import source_config
    assert source_config(source).secret == "s3cr3t-token-value"
    client.post(reverse("evidence-source-edit", args=[source.pk]), form_data(secret="", clear_secret="on"))
    source.refresh_from_db()
    assert source.secret_encrypted == ""


def test_bad_locations_are_refused_with_the_field_named(client, personas, allowed, tmp_path_factory):
    system = make_system(personas)
    client.force_login(personas["owner"])
    outside = tmp_path_factory.mktemp("elsewhere") / "r.json"
    response = client.post(reverse("evidence-source-create", args=[system.slug]),
                           form_data(kind="lm_eval", location=str(outside), secret=""))
    assert response.status_code == 200
    assert "files must lie inside the allowed directories" in " ".join(response.context["form"].errors["location"])
    response = client.post(reverse("evidence-source-create", args=[system.slug]),
                           form_data(experiment="", secret=""))
    assert "name the MLflow experiment" in " ".join(response.context["form"].errors["experiment"])
    response = client.post(reverse("evidence-source-create", args=[system.slug]), form_data(interval_minutes="1"))
    assert "interval_minutes" in response.context["form"].errors
    assert not EvidenceSource.objects.exists()


def test_sync_now_redirects_to_a_run_page_that_polls_its_row(client, personas, allowed):
    system = make_system(personas)
    source = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="arc",
                                    location=str(copy_sample("lm_eval/legacy_arc_challenge-v2.0-res.json", allowed)))
    client.force_login(personas["owner"])
    response = client.post(reverse("evidence-source-sync", args=[source.pk]))
    run = SyncRun.objects.get(source=source)
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    page = client.get(run.get_absolute_url()).content.decode()
    assert f'hx-get="{reverse("sync-run-progress", args=[run.pk])}"' in page and "Queued" in page
    # A second click while it is queued joins the same run.
    client.post(reverse("evidence-source-sync", args=[source.pk]))
    assert SyncRun.objects.filter(source=source).count() == 1
    sync_run_execute(run_id=run.pk)  # what the worker does
    fragment = client.get(reverse("sync-run-progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert "Succeeded" in body and "hx-get" not in body, "a finished run stops the polling"
    assert '<progress class="sync" max="100" value="100">' in body
    assert fragment["HX-Trigger"] == "sync-finished"


def test_failed_run_shows_reason_and_rejected_rows(client, personas, allowed):
    system = make_system(personas)
    path = allowed / "bad.csv"
    path.write_text("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd\n1,1,USD,x,y\n")
    source = source_create(actor=personas["owner"], system=system, kind="focus", name="bill", location=str(path))
    run, _ = sync_request(actor=None, source=source)
    sync_run_execute(run_id=run.pk)
    client.force_login(personas["auditor"])
    body = client.get(run.get_absolute_url()).content.decode()
    assert "every row was rejected" in body and "row 2" in body and "cannot parse the date" in body
    assert "Nothing from this run was kept" in body


def test_requirements_budget_and_charts(client, personas):
    system = make_system(personas)
    client.force_login(personas["owner"])
    url = reverse("metric-requirements", args=[system.slug])
    response = client.post(url, {"step": "requirement", "r-metric": "acc", "r-threshold": "0.6", "r-dataset": "arc",
                                 "r-higher_is_better": "on", "r-max_regression": "0.02", "r-require_version_match": "on"})
    assert response.status_code == 200
    assert "needs a baseline" in " ".join(response.context["form"].errors["baseline_value"])
    response = client.post(url, {"step": "requirement", "r-metric": "acc", "r-threshold": "0.6", "r-dataset": "arc",
                                 "r-higher_is_better": "on", "r-baseline_value": "0.7", "r-max_regression": "0.02"})
    assert response.status_code == 302
    response = client.post(url, {"step": "budget", "b-monthly_amount": "abc", "b-currency": "USD"})
    assert "monthly_amount" in response.context["budget_form"].errors
    assert client.post(url, {"step": "budget", "b-monthly_amount": "100", "b-currency": "usd"}).status_code == 302
    now = timezone.now()
    for days, value in ((20, 0.55), (10, 0.66), (1, 0.71)):
        eval_result_record(system=system, metric="acc", value=value, dataset="arc", source="t",
                                    source_run_id=f"r{days}", observed_at=now - timedelta(days=days))
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    CostRecord.objects.create(system=system, period_start=month, period_end=month + timedelta(hours=1),
                              billed_cost=Decimal("130"), effective_cost=Decimal("125"), currency="USD",
                              source="t", source_row_id="c1", request_count=50_000)
    body = client.get(reverse("system-detail", args=[system.slug])).content.decode()
    assert 'aria-label="acc over time"' in body and "threshold 0.6" in body
    assert body.count('fill="#cf222e"><title>0.55') == 1, "the point below the threshold is red"
    assert "budget 100" in body and "over budget" in body and "over by 25.00" in body
    assert "2.5000 USD" in body, "125 USD / 50,000 requests × 1,000"


def test_portfolio_matrix_uses_the_gate_check_and_a_bounded_number_of_queries(client, personas,
                                                                               django_assert_max_num_queries):
    now = timezone.now()
    for i in range(6):
        system = make_system(personas, slug=f"system-{i}")
        metric_requirement_set(actor=personas["owner"], system=system, metric="acc", threshold=0.5)
        metric_requirement_set(actor=personas["owner"], system=system, metric="f1", threshold=0.5,
                                        max_age_days=7)
        eval_result_record(system=system, metric="acc", value=0.4 + i * 0.05, source="t",
                                    source_run_id="r", observed_at=now - timedelta(days=1))
        eval_result_record(system=system, metric="f1", value=0.9, source="t", source_run_id="r",
                                    observed_at=now - timedelta(days=3 + i * 2))
        budget_set(actor=personas["owner"], system=system, monthly_amount="10")
    client.force_login(personas["auditor"])
    with django_assert_max_num_queries(14):
        response = client.get(reverse("evidence-portfolio"))
    assert response.status_code == 200
    grid = {system.slug: [c["status"] if c else None for c in cells] for system, cells, _ in response.context["grid"]}
    assert response.context["columns"] == ["acc", "f1"]
    assert grid["system-0"] == ["failed", "met"] and grid["system-1"] == ["failed", "met"]
    assert grid["system-3"] == ["met", "stale"], "f1 measured 9 days ago, 7 allowed"
    client.force_login(personas["outsider"])
    assert client.get(reverse("evidence-portfolio")).context["grid"] == []
