"""Risk register pages: the heat map counts, the forms' errors by label, acceptance by the risk owner,
and bounded queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from risks.models import Risk, RiskAcceptance
from risks.services import risk_create
from tests.risks.risk_helpers import risk_input


def _form(**overrides: Any) -> dict[str, Any]:
    base = {
        "title": "Prompt injection through ticket text",
        "category": "2.2",
        "likelihood": "4",
        "impact": "5",
        "treatment": "mitigate",
        "treatment_rationale": "Strip instructions from quoted mail",
        "residual_likelihood": "2",
        "residual_impact": "5",
        "controls": "security-approval, ctrl-7",
        "review_date": (timezone.now() + timedelta(days=60)).date().isoformat(),
    }
    base.update(overrides)
    return base


def test_record_then_see_it_in_the_register_and_heat_map(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    client.force_login(personas["owner"])
    url = reverse("risk-create", kwargs={"slug": risky_system.slug})
    response = client.post(url, _form(owner=personas["owner"].pk))
    assert response.status_code == 302, response.content.decode()[:2000]
    risk = Risk.objects.get()
    assert risk.controls == ["ctrl-7", "security-approval"] and risk.residual_score == 10
    page = client.get(reverse("system-risks", kwargs={"slug": risky_system.slug})).content.decode()
    assert "Prompt injection through ticket text" in page and "2.2 AI system security vulnerabilities" in page
    assert "above appetite, not accepted" in page
    # One risk in cell (4, 5) before treatment and (2, 5) after, with the band as text.
    assert page.count('<strong>1</strong> <span class="heat-label">high (score 20)</span>') == 1
    assert page.count('<strong>1</strong> <span class="heat-label">medium (score 10)</span>') == 1


def test_a_bad_score_is_refused_naming_the_field(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    client.force_login(personas["owner"])
    url = reverse("risk-create", kwargs={"slug": risky_system.slug})
    response = client.post(url, _form(owner=personas["owner"].pk, residual_impact=""))
    assert response.status_code == 400
    assert "Impact after treatment: give both" in response.content.decode()
    response = client.post(url, _form(owner=personas["owner"].pk, likelihood="9"))
    assert response.status_code == 400 and not Risk.objects.exists()


def test_the_risk_owner_accepts_from_the_page(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    risk = risk_create(
        actor=personas["owner"],
        systems=[risky_system],
        data=risk_input(
            personas["owner"],
            treatment="accept",
            treatment_rationale="Cheaper than retraining",
            residual_likelihood=4,
            residual_impact=4,
        ),
    )
    url = reverse("risk-accept", kwargs={"pk": risk.pk, "slug": risky_system.slug})
    body = {
        "valid_until": (timezone.now() + timedelta(days=30)).date().isoformat(),
        "rationale": "The claims team double-checks every denial.",
    }
    client.force_login(personas["owner"])
    assert client.post(url, body).status_code == 403
    client.force_login(personas["risk"])
    assert client.post(url, body).status_code == 302
    page = client.get(reverse("system-risks", kwargs={"slug": risky_system.slug})).content.decode()
    assert "above appetite, accepted by risk until" in page
    assert RiskAcceptance.objects.get().approved_by == personas["risk"]


def test_pages_cost_the_same_queries_for_more_risks(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    client.force_login(personas["lead"])
    risk_create(actor=personas["lead"], systems=[risky_system], data=risk_input(personas["owner"]))
    urls = [reverse("system-risks", kwargs={"slug": risky_system.slug}), reverse("risk-portfolio")]
    for url in urls:
        client.get(url)
    with CaptureQueriesContext(connection) as few:
        for url in urls:
            client.get(url)
    for i in range(15):
        risk_create(
            actor=personas["lead"],
            systems=[risky_system],
            data=risk_input(
                personas["risk"], title=f"Risk {i}", likelihood=1 + i % 5, impact=1 + (i * 3) % 5
            ),
        )
    with CaptureQueriesContext(connection) as many:
        for url in urls:
            assert client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"][:100] for q in many.captured_queries]
