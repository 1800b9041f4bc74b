"""Every persona's home page and the dashboard cost the same number of queries with ten times the demo
portfolio as with the demo itself; the figures and render times are printed for the record."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import AISystem
from clearance.demo import seed_demo
from governance.models import Review
from intake.models import UseCaseRequest
from tests.scale import multiply_demo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]

PAGES = [(persona, "/") for persona in ("requester", "engineer", "lead", "security", "legal", "privacy", "owner",
                                        "risk", "auditor", "admin")] + [("lead", "/dashboard/"), ("auditor", "/dashboard/")]


def _measure(client: Any, persona: str, path: str) -> tuple[int, float, str]:
    client.force_login(get_user_model().objects.get(username=persona))
    client.get(path)  # warm the session and the process's policy cache
    best = float("inf")
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(path)
            best = min(best, time.perf_counter() - start)
        assert response.status_code == 200, (persona, path, response.status_code)
    return len(ctx.captured_queries), best, response.content.decode()


def test_homes_and_dashboard_cost_the_same_queries_at_ten_times_the_demo(client: Any) -> None:
    seed_demo()
    one = {(p, path): _measure(client, p, path) for p, path in PAGES}
    systems, requests, reviews = AISystem.objects.count(), UseCaseRequest.objects.count(), Review.objects.count()
    multiply_demo(10)
    assert AISystem.objects.count() == 10 * systems and UseCaseRequest.objects.count() == 10 * requests
    assert Review.objects.count() == 10 * reviews
    ten = {(p, path): _measure(client, p, path) for p, path in PAGES}
    lines = []
    for key in one:
        lines.append(f"{key[0]:>9} {key[1]:<12} queries {one[key][0]:>3} at 1x, {ten[key][0]:>3} at 10x; "
                     f"{one[key][1] * 1000:6.1f} ms at 1x, {ten[key][1] * 1000:6.1f} ms at 10x")
    print("\n" + "\n".join(lines))
    for key in one:
        assert ten[key][0] == one[key][0], (key, one[key][0], ten[key][0])
    # The lists grew with the data and still say how many there are in all.
    owner_home = ten[("owner", "/")][2]
    owned = AISystem.objects.filter(technical_owner__username="owner").count()
    assert f"All {owned:,} systems you own" in owner_home
    lead_home = ten[("lead", "/")][2]
    waiting = UseCaseRequest.objects.filter(status__in=["submitted", "triage", "in_review"]).count()
    assert f"All {waiting:,} requests waiting, oldest first" in lead_home
