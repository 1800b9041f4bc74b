"""The evidence portfolio asks the policy engine: every cell is the gate's own status and reason for that
system and requirement (waivers and tiers included), in a number of queries that does not grow with
the number of systems."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import AISystem, CostRecord
from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.evidence import budget_set, eval_result_record, metric_requirement_set
from catalog.services.systems import system_create, system_set_evaluation_target, system_update
from clearance.tokens import api_token_create
from governance.models import Review
from governance.policy import loader as policy_loader
from governance.policy.engine import evaluate
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import collect_facts, collect_facts_many, for_facts
from governance.services.reviews import review_decide, reviews_open
from governance.services.waivers import waiver_decide, waiver_request
from intake import services as intake
from tests.conftest import answers, make_ready
from tests.governance.test_policy_tools import ROOT

pytestmark = pytest.mark.django_db

WHY = "The regression is a labelling artefact; the risk owner accepts it until the new eval set lands."


def add_system(personas: dict[str, Any], slug: str, tier: str, *, owners: bool = True, card: bool = True,
               runbook: bool = True, metrics: tuple[tuple[str, float, float, int], ...] = (("acc", 0.8, 0.9, 2),),
               data: tuple[str, ...] = ()) -> AISystem:
    """A catalog system with owners, a published card, a runbook and metric results as asked: each metric
    is (name, threshold, value, days since it was measured)."""
    lead, owner = personas["lead"], personas["owner"]
    people = {"business_owner": personas["requester"], "technical_owner": owner, "risk_owner": personas["risk"]}
    system = system_create(actor=lead, name=slug.replace("-", " ").title(), slug=slug, purpose="Portfolio test",
                           risk_tier=tier, data_categories=list(data), **(people if owners else {}))
    if card:
        model_card_publish(actor=lead, card=model_card_draft(actor=lead, system=system, model_details="A model",
                                                             intended_use="Tests", limitations="Some"))
    if runbook:
        system_update(actor=lead, system=system, runbook_url=f"https://runbooks.example.com/{slug}")
    now = timezone.now()
    for i, (metric, threshold, value, days) in enumerate(metrics):
        if i == 0:
            system_set_evaluation_target(actor=lead, system=system, metric=metric, threshold=threshold)
        else:
            metric_requirement_set(actor=lead, system=system, metric=metric, threshold=threshold, max_age_days=7)
        eval_result_record(system=system, metric=metric, value=value, source="test", source_run_id=f"{slug}-{metric}",
                           observed_at=now - timedelta(days=days))
    system.refresh_from_db()
    return system


def approved_before_its_system_existed(personas: dict[str, Any]) -> AISystem:
    """A request reviewed and approved first, made a system afterwards: its approval reaches the system
    through the request only."""
    lead = personas["lead"]
    request = intake.request_create_draft(requester=personas["requester"], **answers(title="Order status chatbot"))
    intake.request_submit(actor=personas["requester"], request=request)
    intake.request_start_triage(actor=lead, request=request)
    intake.request_set_tier(actor=lead, request=request, tier="minimal", justification="Internal FAQ lookups only.")
    reviews_open(actor=lead, request=request, kinds=["security"])
    review_decide(actor=personas["security"], review=Review.objects.get(request=request), decision="approved",
                  rationale="No customer data leaves the service.")
    return intake.request_create_system(actor=lead, request=request, slug="order-status-chatbot")


@pytest.fixture
def portfolio(request_in_review, personas) -> dict[str, AISystem]:
    """Systems in the shapes of the demo's: one that passes, and one blocked in each way, one waived."""
    ready = request_in_review.system
    make_ready(ready, personas)
    systems = {
        "support-copilot": ready,
        # Minimal tier: legal approval, the decision record and the runbook do not apply.
        "it-helpdesk-bot": add_system(personas, "it-helpdesk-bot", "minimal", card=False, runbook=False),
        "marketing-images": add_system(personas, "marketing-images", "high",
                                       metrics=(("fid", 0.8, 0.7, 1), ("clip_score", 0.2, 0.3, 1))),
        "churn-predictor": add_system(personas, "churn-predictor", "limited", data=("personal",),
                                      metrics=(("auc", 0.7, 0.8, 1), ("recall", 0.5, 0.6, 9))),
        "contract-summariser": add_system(personas, "contract-summariser", "limited", owners=False),
        "sales-email-drafter": add_system(personas, "sales-email-drafter", "limited",
                                          metrics=(("rouge_l", 0.5, 0.4, 3), ("toxicity_free", 0.9, 0.95, 3))),
    }
    systems["order-status-chatbot"] = approved_before_its_system_existed(personas)
    waiver = waiver_request(actor=personas["owner"], system=systems["sales-email-drafter"],
                            requirement="evaluation-threshold", justification=WHY,
                            expires_at=timezone.now() + timedelta(days=20))
    waiver_decide(actor=personas["risk"], waiver=waiver, approve=True, note="until the new eval set")
    budget_set(actor=personas["lead"], system=systems["churn-predictor"], monthly_amount="100")
    month = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    CostRecord.objects.create(system=systems["churn-predictor"], period_start=month, period_end=month + timedelta(hours=1),
                              billed_cost=Decimal("130"), effective_cost=Decimal("125"), currency="USD", source="t",
                              source_row_id="c1")
    return systems


def gate(client, token: str, slug: str, environment: str) -> dict[str, dict[str, Any]]:
    response = client.post("/api/v1/gate/checks", data=json.dumps({"system": slug, "environment": environment}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return {r["id"]: r for r in response.json()["requirements"]}


@pytest.mark.parametrize("environment", ["production", "staging", "development"])
def test_every_cell_is_the_gates_status_and_reason(client, portfolio, personas, environment):
    token = api_token_create(user=personas["auditor"], name="ci", scopes=["gate:check"]).plaintext
    client.force_login(personas["auditor"])
    response = client.get(reverse("evidence-portfolio"), {"environment": environment})
    assert response.status_code == 200
    context = response.context
    policy = load_readiness_policy()
    assert context["environment"] == environment
    assert [rid for rid, _ in context["requirements"]] == [r.id for r in policy.requirements_for(environment)]
    rows = {system.slug: cells for system, cells in context["rows"]}
    assert set(rows) == set(portfolio)
    for slug, system in portfolio.items():
        answer = gate(client, token, slug, environment)
        skipped = {s["id"]: s["reason"] for s in evaluate(
            policy, environment, collect_facts(AISystem.objects.get(pk=system.pk)), timezone.now()).not_applicable}
        cells = dict(zip([rid for rid, _ in context["requirements"]], rows[slug], strict=True))
        assert set(answer) <= set(cells), f"{slug}: the gate judged a requirement the page does not show"
        for rid, cell in cells.items():
            if rid in answer:
                assert (cell["status"], cell["message"]) == (answer[rid]["status"], answer[rid]["message"]), (slug, rid)
            else:
                assert (cell["status"], cell["message"]) == ("not_applicable", skipped[rid]), (slug, rid)
    by_slug = {slug: dict(zip([rid for rid, _ in context["requirements"]], cells, strict=True))
               for slug, cells in rows.items()}
    if environment == "production":
        waived = by_slug["sales-email-drafter"]["evaluation-threshold"]
        assert waived["status"] == "waived" and WHY in waived["message"]
        assert by_slug["it-helpdesk-bot"]["legal-approval"] == {
            "status": "not_applicable", "message": "tier minimal is not in high, limited"}
        assert by_slug["churn-predictor"]["evaluation-threshold"]["status"] == "stale"
        assert by_slug["marketing-images"]["evaluation-threshold"]["status"] == "failed"
        assert by_slug["contract-summariser"]["owners-assigned"]["status"] == "missing"
        assert all(c["status"] in ("met", "not_applicable") for c in by_slug["support-copilot"].values())
        assert by_slug["order-status-chatbot"]["security-approval"]["status"] == "met"


def test_the_metric_breakdown_follows_the_engine_with_waivers_and_budget(client, portfolio, personas):
    client.force_login(personas["lead"])
    context = client.get(reverse("evidence-portfolio")).context
    columns = context["columns"]
    grid = {system.slug: (dict(zip(columns, cells, strict=True)), cost) for system, cells, cost in context["grid"]}
    metrics, _ = grid["marketing-images"]
    assert metrics["fid"]["status"] == "failed" and metrics["fid"]["message"] == "fid = 0.7, needs >= 0.8"
    assert metrics["clip_score"]["status"] == "met" and metrics["auc"] is None
    metrics, cost = grid["churn-predictor"]
    assert metrics["recall"]["status"] == "stale" and metrics["auc"]["status"] == "met"
    assert cost["status"] == "failed" and "over the monthly budget of 100.00 by 25.00" in cost["message"]
    # The waiver covers the whole requirement: each of its metrics shows it, with the engine's reason.
    metrics, cost = grid["sales-email-drafter"]
    assert metrics["rouge_l"]["status"] == metrics["toxicity_free"]["status"] == "waived"
    assert WHY in metrics["rouge_l"]["message"]
    assert cost == {"status": "", "message": "no budget"}
    # Development has no evaluation requirement: nothing there judges the metrics.
    context = client.get(reverse("evidence-portfolio"), {"environment": "development"}).context
    for _, cells, _ in context["grid"]:
        assert all(c is None or c["status"] == "not_applicable" for c in cells)
    body = client.get(reverse("evidence-portfolio")).content.decode()
    assert "tier minimal is not in high, limited" in body and "waived" in body


@pytest.fixture
def tiered_policy(settings, tmp_path, db):
    """The shipped policy with the evaluation required of high-risk systems only, and a cost requirement,
    recorded as the active version (every process decides with the active version, not the file)."""
    text = (ROOT / "policies" / "readiness.yaml").read_text()
    text = text.replace("    check: eval_threshold\n    params: {max_age_days: 30}\n    environments: [production]\n",
                        "    check: eval_threshold\n    params: {max_age_days: 30}\n    environments: [production]\n"
                        "    tiers: [high]\n")
    text += ("\n  - id: within-budget\n    title: Spend within the monthly budget\n    check: cost_within_budget\n"
             "    environments: [production]\n    severity: major\n    fix: Lower the spend or raise the budget.\n")
    (tmp_path / "readiness.yaml").write_text(text)
    for name in ("tiering.yaml", "reviews.yaml"):
        (tmp_path / name).write_text((ROOT / "policies" / name).read_text())
    settings.POLICY_DIR = tmp_path
    from django.utils import timezone as tz

    from clearance.policyfile import content_hash
    from governance.models import PolicyActivation, PolicyVersion

    digest = content_hash(text.encode())
    version = PolicyVersion.objects.create(digest=digest, name="tiered", content=text, created_at=tz.now())
    PolicyActivation.objects.create(version=version, digest=digest, activated_at=tz.now(), via="command")
    policy_loader._loader.clear()
    yield
    policy_loader._loader.clear()


def test_metrics_of_a_requirement_out_of_the_systems_tier_are_not_applicable(client, portfolio, personas, tiered_policy):
    client.force_login(personas["auditor"])
    context = client.get(reverse("evidence-portfolio")).context
    grid = {system.slug: (dict(zip(context["columns"], cells, strict=True)), cost) for system, cells, cost in context["grid"]}
    metrics, cost = grid["churn-predictor"]
    assert metrics["auc"] == metrics["recall"] == {"status": "not_applicable",
                                                   "message": "tier limited is not in high"}
    assert cost["status"] == "failed", "the policy's own cost requirement decides the budget cell"
    metrics, cost = grid["marketing-images"]
    assert metrics["fid"]["status"] == "failed"
    assert cost == {"status": "missing", "message": "no monthly cost budget set for the system"}


def test_the_page_costs_the_same_queries_for_more_systems(client, portfolio, personas):
    client.force_login(personas["auditor"])
    client.get(reverse("evidence-portfolio"))  # warm the policy cache and the session
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("evidence-portfolio"))
    for i in range(8):
        system = add_system(personas, f"extra-{i}", ["high", "limited", "minimal"][i % 3],
                            metrics=(("acc", 0.5, 0.6, i), ("f1", 0.5, 0.4, 1)))
        waiver_decide(actor=personas["risk"], approve=True, waiver=waiver_request(
            actor=personas["owner"], system=system, requirement="runbook-linked", justification=WHY,
            expires_at=timezone.now() + timedelta(days=5)))
        budget_set(actor=personas["lead"], system=system, monthly_amount="10")
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("evidence-portfolio"))
    assert len(response.context["rows"]) == 15
    assert len(many) == len(few) <= 14, [q["sql"][:120] for q in many.captured_queries]


def test_the_facts_of_many_systems_are_each_systems_own(portfolio):
    """Read together, each system's snapshot is exactly the one the gate reads for it alone."""
    systems = list(for_facts(AISystem.objects.all()))
    now = timezone.now()
    together = collect_facts_many(systems, now)
    for system in systems:
        alone = collect_facts(AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner")
                              .get(pk=system.pk))
        assert together[system.pk] == dataclasses.replace(alone, collected_at=now), system.slug
    assert any(f.waivers for f in together.values()) and any(f.cost for f in together.values())
    assert any(len(f.approvals) >= 3 for f in together.values())
