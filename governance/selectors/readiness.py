"""Readiness per environment for the pages: stored verdicts next to a live evaluation."""

from __future__ import annotations

from datetime import datetime

from catalog.models import AISystem
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import Policy, load_readiness_policy
from governance.selectors.facts import collect_facts


def readiness_by_environment(
    system: AISystem, now: datetime, policy: Policy | None = None
) -> tuple[Policy, dict[str, Evaluation]]:
    """Evaluate every environment of the active policy (raises PolicyError: callers fail closed)."""
    policy = policy or load_readiness_policy()
    facts = collect_facts(system)
    return policy, {env: evaluate(policy, env, facts, now) for env in policy.environments}
