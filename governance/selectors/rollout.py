"""What a new readiness policy would change across the whole portfolio (``manage.py policy diff``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catalog.models import AISystem
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import Policy
from governance.selectors.facts import collect_facts


@dataclass
class Change:
    system: str
    environment: str
    before: str  # pass | block | absent
    after: str
    reasons: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.before == self.after:
            return "unchanged"
        if self.after == "pass":
            return "starts passing"
        if self.before == "pass":
            return "stops passing"
        return "changes"

    def as_json(self) -> dict[str, Any]:
        return {"system": self.system, "environment": self.environment, "before": self.before,
                "after": self.after, "change": self.kind, "reasons": self.reasons}


def _statuses(evaluation: Evaluation | None) -> dict[str, tuple[str, str]]:
    if evaluation is None:
        return {}
    found = {r.id: (r.status, r.message) for r in evaluation.requirements}
    found.update({s["id"]: ("not_applicable", s["reason"]) for s in evaluation.not_applicable})
    return found


def explain_change(old: Evaluation | None, new: Evaluation | None) -> list[str]:
    """Requirement by requirement, what differs between the two evaluations."""
    before, after = _statuses(old), _statuses(new)
    reasons = []
    for req_id in [*before, *(r for r in after if r not in before)]:
        was, now = before.get(req_id), after.get(req_id)
        if was is None and now is not None and now[0] != "not_applicable":
            reasons.append(f"{req_id}: new requirement, {now[0]} ({now[1]})")
        elif now is None and was is not None and was[0] != "not_applicable":
            reasons.append(f"{req_id}: no longer required (was {was[0]})")
        elif was is not None and now is not None and was[0] != now[0]:
            reasons.append(f"{req_id}: {was[0]} -> {now[0]} ({now[1]})")
    return reasons


def portfolio_diff(current: Policy, proposed: Policy, now: datetime) -> list[Change]:
    """Every (system, environment) whose verdict the proposed policy would change."""
    environments = [*current.environments, *(e for e in proposed.environments if e not in current.environments)]
    changes = []
    systems = AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").order_by("slug")
    for system in systems.iterator(chunk_size=500):
        facts = collect_facts(system)
        for env in environments:
            old = evaluate(current, env, facts, now) if env in current.environments else None
            new = evaluate(proposed, env, facts, now) if env in proposed.environments else None
            before = old.verdict if old else "absent"
            after = new.verdict if new else "absent"
            if before != after:
                changes.append(Change(system.slug, env, before, after, explain_change(old, new)))
    return changes
