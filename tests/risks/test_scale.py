"""The register pages at 10,000 risks: the same number of queries as with one, and how long they take
next to a baseline page (the system list) in the same run."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from risks.models import Risk
from risks.services import risk_create
from tests.risks.risk_helpers import risk_input

N = 10_000


def _timed(client: Any, url: str) -> tuple[int, float]:
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
    assert response.status_code == 200
    return len(ctx.captured_queries), elapsed


def test_register_pages_at_ten_thousand_risks(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    lead = personas["lead"]
    risk_create(actor=lead, systems=[risky_system], data=risk_input(personas["owner"]))
    urls = {
        "system-risks": reverse("system-risks", kwargs={"slug": risky_system.slug}),
        "risk-portfolio": reverse("risk-portfolio"),
        "system-list (baseline)": reverse("system-list"),
    }
    client.force_login(lead)
    for url in urls.values():
        client.get(url)  # warm the session and the policy cache
    one = {name: _timed(client, url)[0] for name, url in urls.items()}
    now = timezone.now()
    review = (now + timedelta(days=30)).date()
    risks = Risk.objects.bulk_create(
        Risk(
            title=f"Risk {i}",
            category="7.3",
            owner=lead,
            likelihood=1 + i % 5,
            impact=1 + (i // 5) % 5,
            residual_likelihood=1 + i % 3 if i % 2 else None,
            residual_impact=1 + i % 4 if i % 2 else None,
            review_date=review,
            created_by=lead,
            created_at=now,
            updated_at=now,
        )
        for i in range(N)
    )
    Risk.systems.through.objects.bulk_create(
        Risk.systems.through(risk_id=r.pk, aisystem_id=risky_system.pk) for r in risks
    )
    many = {name: _timed(client, url) for name, url in urls.items()}
    for name in urls:
        assert many[name][0] == one[name], (name, one[name], many[name][0])
    print(
        "\n"
        + "\n".join(
            f"{name}: {q} queries, {t * 1000:.0f} ms at {N + 1} risks" for name, (q, t) in many.items()
        )
    )
    page = client.get(urls["system-risks"]).content.decode()
    assert f"{N + 1} risks by likelihood" in page
