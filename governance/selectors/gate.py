"""The gate's read of a stored verdict: one indexed query answers the verdict, the system with its
owners, the active policy version and the system's facts version, so the gate can tell whether the
stored verdict is current without reading anything else."""

from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from governance.models import UNTRUSTED_FACTS, FactsVersion, PolicyActivation, ReadinessVerdict
from governance.policy.loader import Policy
from governance.services.readiness import owners_key


def stored_verdict(slug: str, environment: str) -> ReadinessVerdict | None:
    """The stored verdict of the system ``slug`` for ``environment``, with ``system`` and its owners
    joined and two columns added: ``active_digest`` (the active policy version now) and
    ``current_facts`` (the system's facts version now). None when there is none."""
    active = PolicyActivation.objects.order_by("-pk").values("digest")[:1]
    current = FactsVersion.objects.filter(system=OuterRef("system")).values("version")[:1]
    rows = (ReadinessVerdict.objects.filter(system__slug=slug, environment=environment)
            .select_related("system", "system__business_owner", "system__technical_owner", "system__risk_owner")
            .annotate(active_digest=Subquery(active), current_facts=Coalesce(Subquery(current), Value(0))))
    return next(iter(rows[:1]), None)


def why_not_current(row: ReadinessVerdict, policy: Policy, now: datetime) -> str:
    """Why the stored verdict cannot be served as the gate's answer now, or "" when it can. Anything
    it cannot vouch for counts against it: the gate then computes live."""
    columns = row.__dict__  # the annotations of ``stored_verdict``
    if not columns.get("active_digest") or row.policy_version != columns["active_digest"] \
            or policy.version != columns["active_digest"]:
        return "stored under another policy version"
    if row.environment not in policy.environments:
        return "an environment the policy does not have"
    if row.facts_version == UNTRUSTED_FACTS or row.facts_version != columns.get("current_facts"):
        return "the facts changed since it was computed"
    if row.valid_until is not None and row.valid_until <= now:
        return "an approval or a piece of evidence it relied on has aged out"
    if row.owners_key != owners_key(row.system):
        return "the owners changed since it was computed"
    return ""
