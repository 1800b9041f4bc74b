"""Demo data for the gate and waivers: one approved waiver and a few recorded gate calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from catalog.models import AISystem
from governance.policy.engine import evaluate
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import collect_facts
from governance.services.gate import gate_check
from governance.services.waivers import waiver_decide, waiver_request

WAIVED_SYSTEM = "order-status-chatbot"


def seed_gate_demo(users: dict[str, Any], say: Any) -> None:
    policy = load_readiness_policy()
    now = timezone.now()
    systems = list(AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner")
                   .exclude(risk_owner=None).order_by("slug"))
    waived = None
    # A system still blocked for other reasons, so the waiver shows without changing the demo's story.
    for system in [s for s in systems if s.slug == WAIVED_SYSTEM]:
        requester = system.business_owner or system.technical_owner
        if requester is None or requester == system.risk_owner:
            continue
        result = evaluate(policy, "production", collect_facts(system), now)
        unmet = [r for r in result.unmet if r.id == "runbook-linked"]
        if not unmet:
            continue
        waiver = waiver_request(
            actor=requester, system=system, requirement=unmet[0].id, expires_at=now + timedelta(days=21),
            justification="The runbook moves to the new operations wiki this sprint; on-call has the old one.",
        )
        waiver_decide(actor=system.risk_owner, waiver=waiver, approve=True, note="Three weeks, no more.")
        waived = system
        break
    for system in systems[:4]:
        for environment in ("staging", "production"):
            gate_check(user=users["lead"], token=None, system=system, environment=environment, policy=policy,
                       version="1.0.0", commit="9fceb02d0ae598e95dc970b74767f19372d61af8",
                       pipeline_url="https://ci.example.com/pipelines/1042")
    say(f"Seeded a waiver ({waived.slug if waived else 'none'}) and {len(systems[:4]) * 2} gate calls.")
