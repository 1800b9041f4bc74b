"""The ``risks_treated`` check type, with the real facts collector and the real engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import system_create
from governance.policy.engine import evaluate
from governance.policy.facts import RiskFact, SystemFacts
from governance.policy.loader import build_policy
from governance.selectors.facts import collect_facts, collect_facts_many, for_facts
from risks.services import risk_accept, risk_create, risk_update
from tests.risks.risk_helpers import risk_input

POLICY = b"""
apiVersion: clearance/v1
kind: ReadinessPolicy
name: risks-only
environments:
  production:
    description: Customer traffic.
requirements:
  - id: risks-treated
    title: No risk above the appetite without an accepted treatment
    check: risks_treated
    environments: [production]
    severity: critical
    fix: Treat the risk, or have the system's risk owner accept the residual risk.
"""


@pytest.fixture(scope="module")
def policy() -> Any:
    return build_policy(Path("risks-only.yaml"), POLICY)


def _verdict(policy: Any, system: AISystem) -> Any:
    result = evaluate(policy, "production", collect_facts(system), timezone.now())
    return result.verdict, result.requirements[0]


def test_untreated_then_unaccepted_then_accepted_then_lapsed(
    personas: dict[str, Any], risky_system: Any, policy: Any
) -> None:
    assert _verdict(policy, risky_system)[0] == "pass"  # an empty register is within appetite
    owner = personas["owner"]
    risk = risk_create(actor=owner, systems=[risky_system], data=risk_input(owner))  # 4 x 4 = 16 > 6
    verdict, req = _verdict(policy, risky_system)
    assert verdict == "block" and req.status == "failed"
    assert f"risk {risk.pk}" in req.message and "no treatment" in req.message

    treated = risk_input(
        owner,
        treatment="mitigate",
        treatment_rationale="Reweight by age band",
        residual_likelihood=2,
        residual_impact=4,
    )  # 8 > 6: still above appetite
    risk = risk_update(actor=owner, risk=risk, data=treated)
    verdict, req = _verdict(policy, risky_system)
    assert verdict == "block" and "without a current acceptance" in req.message

    risk_accept(
        actor=personas["risk"],
        risk=risk,
        system=risky_system,
        rationale="Manual check on every denial",
        expires_at=timezone.now() + timedelta(days=30),
    )
    verdict, req = _verdict(policy, risky_system)
    assert verdict == "pass" and req.evidence["accepted"][0]["by"] == "risk"

    treated.residual_likelihood = 3  # the scores change: the acceptance lapses
    risk_update(actor=owner, risk=risk, data=treated)
    assert _verdict(policy, risky_system)[0] == "block"


def test_treatment_below_appetite_passes_without_acceptance(
    personas: dict[str, Any], risky_system: Any, policy: Any
) -> None:
    owner = personas["owner"]
    risk_create(
        actor=owner,
        systems=[risky_system],
        data=risk_input(
            owner,
            treatment="mitigate",
            treatment_rationale="Human review of every denial",
            residual_likelihood=2,
            residual_impact=3,
        ),
    )  # 6 <= 6
    assert _verdict(policy, risky_system)[0] == "pass"


def test_an_expired_acceptance_does_not_count() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    facts = SystemFacts(
        slug="s",
        risk_tier="high",
        lifecycle_stage="pilot",
        data_categories=(),
        owners={},
        risk_appetite=6,
        risks=(
            RiskFact(
                1, "r", "1.1", 16, 9, "accept", accepted_until=now - timedelta(seconds=1), accepted_by="x"
            ),
        ),
    )
    from governance.policy.checks import risks_treated

    assert risks_treated(facts, {}, now).status == "failed"
    # A snapshot that did not read the register fails closed, and the policy may demand a register.
    assert risks_treated(SystemFacts("s", "high", "pilot", (), {}), {}, now).status == "missing"
    empty = SystemFacts("s", "high", "pilot", (), {}, risk_appetite=6)
    assert risks_treated(empty, {"require_register": True}, now).status == "missing"
    assert risks_treated(empty, {}, now).status == "met"


def test_appetite_is_per_tier_from_settings(
    personas: dict[str, Any], risky_system: Any, policy: Any, settings: Any
) -> None:
    owner = personas["owner"]
    risk_create(actor=owner, systems=[risky_system], data=risk_input(owner, likelihood=2, impact=4))  # 8
    assert _verdict(policy, risky_system)[0] == "block"
    settings.RISK_APPETITE = {"high": 8}
    assert _verdict(policy, risky_system)[0] == "pass"
    settings.RISK_APPETITE = {}  # a tier without an appetite carries nothing untreated
    assert _verdict(policy, risky_system)[0] == "block"


def test_collect_facts_many_reads_the_register_in_one_query(personas: dict[str, Any]) -> None:
    lead = personas["lead"]
    systems = [
        system_create(
            actor=lead, name=f"System {i}", purpose="p", risk_tier="limited", risk_owner=personas["risk"]
        )
        for i in range(6)
    ]
    for system in systems:
        risk_create(actor=lead, systems=[system], data=risk_input(personas["owner"]))
    risk_create(
        actor=lead,
        systems=systems,
        data=risk_input(personas["owner"], title="Vendor outage"),
        portfolio_wide=True,
    )

    def count(n: int) -> int:
        chosen = list(for_facts(AISystem.objects.filter(pk__in=[s.pk for s in systems[:n]])))
        with CaptureQueriesContext(connection) as ctx:
            facts = collect_facts_many(chosen)
        assert all(len(f.risks) == 2 for f in facts.values())
        return len(ctx.captured_queries)

    assert count(1) == count(6)
    with CaptureQueriesContext(connection) as ctx:
        from governance.selectors.facts import risk_facts_many

        risk_facts_many([s.pk for s in systems], timezone.now())
    assert len(ctx.captured_queries) == 1


def test_a_system_without_risks_costs_no_register_query(personas: dict[str, Any], risky_system: Any) -> None:
    """The gate's hot path: for_facts counts the linked risks in its own statement, so a system with
    none is not read from the register at all (and its snapshot still says the register was read)."""
    system = for_facts(AISystem.objects.filter(pk=risky_system.pk)).get()
    with CaptureQueriesContext(connection) as ctx:
        facts = collect_facts(system)
    assert facts.risks == () and facts.risk_appetite == 6
    assert not [q for q in ctx.captured_queries if "risks_risk_systems" in q["sql"]]
