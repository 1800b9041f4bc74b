"""The dashboard's measures on data whose answers are known, what a measure says with nothing to
count, and a page whose policy does not load: that measure says why, the others still show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from catalog.models import AISystem, CostBudget, CostRecord
from governance.models import GateCheck, PolicyActivation, ReadinessVerdict, Review
from governance.selectors.dashboard import dashboard, months_back
from intake.models import UseCaseRequest

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def by_key(now: datetime = NOW) -> dict[str, Any]:
    return {m.key: m for m in dashboard(now)}


def system(slug: str) -> AISystem:
    return AISystem.objects.create(slug=slug, name=slug.title(), purpose="Known data", risk_tier="limited")


def check(sys: AISystem, user: Any, at: datetime, verdict: str, env: str = "production",
          reqs: list[dict[str, Any]] | None = None) -> GateCheck:
    return GateCheck.objects.create(system=sys, environment=env, verdict=verdict, policy_name="default",
                                    policy_version="x", requirements=reqs or [], user=user, checked_at=at)


def req(rid: str, check_type: str, status: str, title: str = "") -> dict[str, Any]:
    return {"id": rid, "title": title or rid, "status": status, "severity": "major", "trace": {"check": check_type}}


def test_months_run_oldest_first_across_a_year_end() -> None:
    starts = months_back(datetime(2026, 2, 10, tzinfo=UTC), 4)
    assert [f"{s:%Y-%m}" for s in starts] == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_nothing_to_count_says_so_instead_of_zero(client: Any, personas: dict[str, Any]) -> None:
    measures = by_key()
    assert all(m.value is None and m.no_data and not m.missing for m in measures.values()), {
        k: (m.value, m.no_data, m.missing) for k, m in measures.items()}
    client.force_login(personas["auditor"])
    page = client.get("/dashboard/").content.decode()
    assert page.count("No data yet.") == len(measures)
    assert "0.0%" not in page and ">0%<" not in page


def test_share_of_production_deploys_that_passed(personas: dict[str, Any]) -> None:
    a, b = system("alpha"), system("beta")
    lead = personas["lead"]
    for i in range(9):
        check(a if i % 2 else b, lead, NOW - timedelta(days=i + 1), "pass")
    check(a, lead, NOW - timedelta(days=3), "block")
    for _ in range(5):
        check(a, lead, NOW - timedelta(days=2), "block", env="staging")  # not a production deploy
    check(b, lead, NOW - timedelta(days=200), "block")  # outside the 90 days, inside the 12 months
    m = by_key()["gate"]
    assert m.value == pytest.approx(90.0) and m.meets is True and m.display == "90.0%"
    assert "9 of 10 production gate calls passed" in m.detail
    series = dict(m.series)
    assert series["Nov 2026"] == pytest.approx(90.0)
    assert series["May 2026"] == 0.0  # the one call that month blocked: a real 0, not a gap
    assert series["Jun 2026"] is None  # no call: a gap


def test_review_sla_adherence_and_median_time_to_decision(personas: dict[str, Any]) -> None:
    sys = system("alpha")
    lead = personas["lead"]

    def review(opened_days: float, due_days: float, decided_days: float | None) -> None:
        opened = NOW - timedelta(days=opened_days)
        Review.objects.create(kind="security", system=sys, opened_by=lead, opened_at=opened,
                              due_at=opened + timedelta(days=due_days),
                              decided_at=None if decided_days is None else opened + timedelta(days=decided_days),
                              status="open" if decided_days is None else "approved")

    review(20, 5, 1)  # on time, took 1 day
    review(20, 5, 2)  # on time, 2 days
    review(20, 5, 3)  # on time, 3 days
    review(20, 5, 6)  # late, 6 days
    review(20, 5, None)  # open past its due date: a miss
    review(2, 5, None)  # open, not yet due: not settled
    sla, speed = by_key()["review-sla"], by_key()["review-time"]
    assert sla.value == pytest.approx(60.0) and "3 of 5 reviews" in sla.detail
    assert speed.value == pytest.approx(2.5) and speed.display == "2.5 days"


def test_intake_cycle_time_is_the_median_from_submission_to_decision(personas: dict[str, Any]) -> None:
    for i, days in enumerate((2, 4, 10)):
        decided = NOW - timedelta(days=5 + i)
        UseCaseRequest.objects.create(title=f"R{i}", problem="p", business_outcome="o", why_ai="w",
                                      requester=personas["requester"], status="approved" if i else "rejected",
                                      submitted_at=decided - timedelta(days=days), decided_at=decided)
    UseCaseRequest.objects.create(title="Open", problem="p", business_outcome="o", why_ai="w",
                                  requester=personas["requester"], status="in_review", submitted_at=NOW)
    m = by_key()["intake"]
    assert m.value == pytest.approx(4.0) and "median of 3 requests" in m.detail


def stored(sys: AISystem, verdict: str, reqs: list[dict[str, Any]]) -> None:
    ReadinessVerdict.objects.create(system=sys, environment="production", verdict=verdict, policy_name="default",
                                    policy_version="x", requirements=reqs, computed_at=NOW)


@pytest.fixture
def verdicts(personas: dict[str, Any]) -> None:
    card, record, runbook = "model-card-published", "decision-record-accepted", "runbook-linked"
    stored(system("alpha"), "block", [req(card, "model_card_published", "missing", "Model card published"),
                                      req(record, "decision_record_accepted", "met"),
                                      req(runbook, "runbook_linked", "met"),
                                      req("security-approval", "approval", "missing", "Security approval")])
    stored(system("beta"), "block", [req(card, "model_card_published", "missing", "Model card published"),
                                     req(record, "decision_record_accepted", "waived"),
                                     req(runbook, "runbook_linked", "missing", "Runbook linked")])
    stored(system("gamma"), "pass", [req(card, "model_card_published", "met"),
                                     req(record, "decision_record_accepted", "met"),
                                     req(runbook, "runbook_linked", "met")])


def test_documentation_completeness_and_why_systems_are_blocked(verdicts: None, personas: dict[str, Any]) -> None:
    gamma = AISystem.objects.get(slug="gamma")
    # A month's value is what the system's last production call of that month reported.
    check(gamma, personas["lead"], NOW - timedelta(days=40), "block", reqs=[req("c", "model_card_published", "missing")])
    check(gamma, personas["lead"], NOW - timedelta(days=35), "pass", reqs=[req("c", "model_card_published", "met"),
                                                                             req("s", "approval", "missing")])
    measures = by_key()
    docs = measures["documentation"]
    # 6 of the 9 documents are met or waived: the approval is not a document.
    assert docs.value == pytest.approx(6 / 9 * 100) and docs.meets is False
    assert "6 of 9 required documents" in docs.detail
    assert dict(docs.series)["Oct 2026"] == 100.0
    blocked = measures["blocked"]
    assert blocked.display == "2 of 3" and blocked.rows == [("Model card published", 2), ("Runbook linked", 1),
                                                           ("Security approval", 1)]
    assert dict(blocked.series)["Oct 2026"] == 0.0


def test_a_policy_that_does_not_load_leaves_that_measure_out_and_says_why(
        client: Any, verdicts: None, personas: dict[str, Any]) -> None:
    PolicyActivation.objects.all().delete()
    measures = by_key()
    assert measures["documentation"].value is None
    assert "does not load" in measures["documentation"].missing
    assert "no readiness policy version has been activated" in measures["documentation"].missing
    assert measures["blocked"].display == "2 of 3"  # the rest is still computed
    client.force_login(personas["lead"])
    page = client.get("/dashboard/").content.decode()
    assert page.count("Not available:") == 1 and "2 of 3" in page


def test_cost_against_budget_and_per_thousand_requests(personas: dict[str, Any]) -> None:
    a, b = system("alpha"), system("beta")
    CostBudget.objects.create(system=a, monthly_amount=Decimal("150"), currency="USD")
    CostBudget.objects.create(system=b, monthly_amount=Decimal("50"), currency="USD")
    october = datetime(2026, 10, 1, tzinfo=UTC)

    def cost(sys: AISystem, amount: str, currency: str, requests: int | None, row: str, start: datetime = october) -> None:
        CostRecord.objects.create(system=sys, period_start=start, period_end=start + timedelta(days=1),
                                  billed_cost=Decimal(amount), effective_cost=Decimal(amount), currency=currency,
                                  request_count=requests, source="test", source_row_id=row)

    cost(a, "100", "USD", 20_000, "1")
    cost(b, "50", "USD", None, "2")
    cost(b, "30", "EUR", None, "3")
    cost(a, "10", "USD", 1_000, "4", start=datetime(2026, 11, 2, tzinfo=UTC))
    measures = by_key()
    spent = measures["cost"]
    assert spent.value == pytest.approx(150.0) and spent.meets is True  # October, the last whole month
    assert "75% of the budgets" in spent.detail and "Costs in EUR are not converted" in spent.detail
    assert dict(spent.series)["Nov 2026"] == pytest.approx(10.0)
    per_k = measures["cost-per-1000"]
    # Only rows that count requests: (100 + 10) USD over 21,000 requests.
    assert per_k.value == pytest.approx(110 / 21_000 * 1000) and per_k.display == "5.24 USD"
    assert dict(per_k.series)["Oct 2026"] == pytest.approx(5.0)


def test_the_page_draws_every_measure_with_its_table(client: Any, verdicts: None, personas: dict[str, Any]) -> None:
    check(AISystem.objects.get(slug="alpha"), personas["lead"], timezone.now() - timedelta(days=1), "pass")
    client.force_login(personas["auditor"])
    page = client.get("/dashboard/").content.decode()
    assert "100.0%" in page and "meets the target" in page
    main = page.split("<main", 1)[1]
    assert 'role="img"' in main and "<script" not in main
    assert page.count("The figures as a table") >= 2
    assert "Blocked systems per unmet requirement" in page
    client.force_login(personas["owner"])
    assert client.get("/dashboard/").status_code == 403
