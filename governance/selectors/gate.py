"""The gate's read of a stored verdict: one indexed query answers the verdict, the system's slug and
owners, the active policy version and the system's facts version, so the gate can tell whether the
stored verdict is current without reading anything else.

The query is a fixed shape, written once per process and sent with two parameters: building it
through the ORM on every call cost some forty times what the database spends answering it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.dateparse import parse_datetime

from catalog.models import AISystem
from governance.models import UNTRUSTED_FACTS, FactsVersion, PolicyActivation, ReadinessVerdict
from governance.policy.loader import Policy
from governance.services.readiness import owners_key_of


@dataclass(frozen=True)
class StoredVerdict:
    """One stored verdict as the gate reads it, with what decides whether it is current."""

    environment: str
    verdict: str
    policy_name: str
    policy_version: str
    requirements: list[dict[str, Any]]
    valid_until: datetime | None
    facts_version: int
    owners_key: str
    # Only what the gate uses: pk, slug, the owner ids and who asked for it (visibility).
    system: AISystem
    owners_now: str  # owners_key of the system's owners as they are now
    active_digest: str | None  # the active policy version now
    current_facts: int  # the system's facts version now


def _sql() -> str:
    verdicts, systems = ReadinessVerdict._meta.db_table, AISystem._meta.db_table
    users = get_user_model()._meta.db_table
    # Only table names from the models go into the text; the slug and environment are parameters.
    return (
        "SELECT v.environment, v.verdict, v.policy_name, v.policy_version, v.requirements, v.valid_until, "  # noqa: S608
        "v.facts_version, v.owners_key, s.id, s.slug, s.business_owner_id, s.technical_owner_id, s.risk_owner_id, "
        "s.requested_by_id, b.is_active, b.username, t.is_active, t.username, r.is_active, r.username, "
        f"(SELECT a.digest FROM {PolicyActivation._meta.db_table} a ORDER BY a.id DESC LIMIT 1), "
        f"(SELECT f.version FROM {FactsVersion._meta.db_table} f WHERE f.system_id = v.system_id) "
        f"FROM {verdicts} v JOIN {systems} s ON s.id = v.system_id "
        f"LEFT JOIN {users} b ON b.id = s.business_owner_id "
        f"LEFT JOIN {users} t ON t.id = s.technical_owner_id "
        f"LEFT JOIN {users} r ON r.id = s.risk_owner_id "
        "WHERE s.slug = %s AND v.environment = %s"
    )


_SQL: str | None = None


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))  # SQLite answers text; the stored moments are UTC
    if parsed is None:
        raise ValueError(f"not a moment: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stored_verdict(slug: str, environment: str) -> StoredVerdict | None:
    """The stored verdict of the system ``slug`` for ``environment``, or None when there is none."""
    global _SQL
    if _SQL is None:
        _SQL = _sql()
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [slug, environment])
        row = cursor.fetchone()
    if row is None:
        return None
    (env, verdict, policy_name, policy_version, requirements, valid_until, facts_version, key, system_id,
     system_slug, business_id, technical_id, risk_id, requested_by_id, *owners, active_digest, current) = row
    system = AISystem(id=system_id, slug=system_slug, business_owner_id=business_id, technical_owner_id=technical_id,
                      risk_owner_id=risk_id, requested_by_id=requested_by_id)
    system._state.adding, system._state.db = False, connection.alias
    people = [None if pk is None else (pk, owners[2 * i], owners[2 * i + 1])
              for i, pk in enumerate((business_id, technical_id, risk_id))]
    return StoredVerdict(
        environment=env, verdict=verdict, policy_name=policy_name, policy_version=policy_version,
        requirements=json.loads(requirements) if isinstance(requirements, (str, bytes)) else requirements,
        valid_until=_moment(valid_until), facts_version=int(facts_version), owners_key=key, system=system,
        owners_now=owners_key_of(people), active_digest=active_digest,
        current_facts=int(current) if current is not None else 0,
    )


def why_not_current(row: StoredVerdict, policy: Policy, now: datetime) -> str:
    """Why the stored verdict cannot be served as the gate's answer now, or "" when it can. Anything
    it cannot vouch for counts against it: the gate then computes live."""
    if not row.active_digest or row.policy_version != row.active_digest or policy.version != row.active_digest:
        return "stored under another policy version"
    if row.environment not in policy.environments:
        return "an environment the policy does not have"
    if row.facts_version == UNTRUSTED_FACTS or row.facts_version != row.current_facts:
        return "the facts changed since it was computed"
    if row.valid_until is not None and row.valid_until <= now:
        return "an approval or a piece of evidence it relied on has aged out"
    if row.owners_key != row.owners_now:
        return "the owners changed since it was computed"
    return ""


# The order a page shows environments in and the order unmet requirements are told in.
ENVIRONMENT_ORDER = {"production": 0, "staging": 1, "development": 2}
SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2}


@dataclass(frozen=True)
class EnvironmentReadiness:
    """A system's stored verdict for one environment as a page shows it: whether the gate would serve
    it as it is, and the unmet requirements, most severe first."""

    environment: str
    verdict: str
    current: bool
    why_not_current: str
    unmet: list[dict[str, Any]]

    @property
    def top_reason(self) -> dict[str, Any] | None:
        return self.unmet[0] if self.unmet else None


def readiness_of_systems(systems: list[AISystem], now: datetime) -> tuple[dict[int, list[EnvironmentReadiness]], str]:
    """The stored verdicts of many systems, each judged by the gate's own rule (``why_not_current``)
    without evaluating anything: three queries whatever the number of systems. The systems must come
    with their owners (``select_related``). Returns the verdicts per system id, and why no stored
    verdict can be served at all ("" when the active policy loads)."""
    from clearance.policyfile import PolicyError
    from governance.selectors.policy import active_policy

    ids = [s.pk for s in systems]
    if not ids:
        return {}, ""
    policy: Policy | None
    try:
        policy, policy_error = active_policy(), ""
    except PolicyError as exc:
        policy, policy_error = None, exc.message
    facts = dict(FactsVersion.objects.filter(system__in=ids).values_list("system_id", "version"))
    by_id = {s.pk: s for s in systems}
    result: dict[int, list[EnvironmentReadiness]] = {pk: [] for pk in ids}
    rows = ReadinessVerdict.objects.filter(system__in=ids).only(
        "system_id", "environment", "verdict", "policy_name", "policy_version", "requirements", "valid_until",
        "facts_version", "owners_key")
    for row in rows:
        system = by_id[row.system_id]
        people = [None if user is None else (user.pk, user.is_active, user.get_username())
                  for user in (system.business_owner, system.technical_owner, system.risk_owner)]
        stored = StoredVerdict(
            environment=row.environment, verdict=row.verdict, policy_name=row.policy_name,
            policy_version=row.policy_version, requirements=row.requirements, valid_until=row.valid_until,
            facts_version=row.facts_version, owners_key=row.owners_key, system=system,
            owners_now=owners_key_of(people), active_digest=policy.version if policy else None,
            current_facts=facts.get(row.system_id, 0),
        )
        why = f"the readiness policy cannot be used: {policy_error}" if policy is None else why_not_current(
            stored, policy, now)
        unmet = sorted((r for r in row.requirements if r.get("status") not in ("met", "waived")),
                       key=lambda r: SEVERITY_ORDER.get(str(r.get("severity")), 9))
        result[row.system_id].append(EnvironmentReadiness(row.environment, row.verdict, not why, why, unmet))
    for envs in result.values():
        envs.sort(key=lambda e: (ENVIRONMENT_ORDER.get(e.environment, 9), e.environment))
    return result, policy_error
