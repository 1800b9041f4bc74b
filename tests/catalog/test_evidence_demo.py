"""The demo seeds evidence that really went through the pipeline: sources, succeeded runs, costs
against budgets, and the system page draws them."""

from __future__ import annotations

import pytest

from catalog.models import CostRecord, EvalResult, EvidenceSource, SyncRun
from clearance.demo import seed_demo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]


def test_demo_evidence(client):
    seed_demo()
    assert EvidenceSource.objects.count() == 4
    assert set(SyncRun.objects.values_list("status", flat=True)) == {"succeeded"}
    assert CostRecord.objects.filter(system__slug="support-copilot").count() == 90
    assert CostRecord.objects.filter(system__slug="invoice-extractor", request_count=None).count() == 90
    assert EvalResult.objects.filter(system__slug="it-helpdesk-bot", metric="pass_rate").get().value == 0.5
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="auditor"))
    body = client.get("/systems/support-copilot/").content.decode()
    assert "Cost per month" in body and "Per 1,000 requests" in body
    assert "budget 1,500" in body, "the budget line of the cost chart"
