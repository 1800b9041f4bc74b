"""Readiness per environment for the pages: stored verdicts next to a live evaluation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from catalog.models import AISystem
from clearance.models import OutboxMessage
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


def systems_awaiting_recompute(system_ids: Iterable[int]) -> set[int]:
    """Systems with a readiness recompute asked for and not yet completed: their stored verdict may
    not reflect the newest facts yet (one query)."""
    ids = list(system_ids)
    if not ids:
        return set()
    pending = OutboxMessage.objects.filter(task_name="governance.recompute_readiness", completed_at=None,
                                           kwargs__system_id__in=ids).values_list("kwargs__system_id", flat=True)
    return {int(pk) for pk in pending}
