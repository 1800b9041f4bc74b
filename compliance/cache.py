"""Each system's control statuses for one framework, kept in this process's memory under everything they
were computed from, so the coverage page judges only the systems whose facts changed.

The key is the one the gate's stored verdict is checked by (``governance.selectors.gate``): the
system's facts version, read *before* its facts (a concurrent change leaves an entry behind, never
ahead), the active policy version, the framework library's version, and the owners with their active
flag (deactivating an account changes no facts version). An entry is also dropped at the first moment
time alone would change it: the evaluation's ``valid_until`` (an approval's expiry, a result's
freshness, a waiver's end), an attestation's expiry, and the next date of application among the
framework's controls. Nothing is stored in the database and nothing here decides a status: a miss is
computed by ``compliance.selectors.compliance_many``, the gate's facts and engine.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, time

from catalog.models import AISystem
from compliance.loader import Library
from compliance.selectors import ControlResult, compliance_many
from governance.models import UNTRUSTED_FACTS, FactsVersion
from governance.policy.loader import Policy

MAX_ENTRIES = 50_000
CHUNK = 500  # facts versions read this many systems a query


@dataclass(frozen=True)
class Entry:
    stamp: tuple[object, ...]
    statuses: tuple[str, ...]  # one per control of the framework, in file order
    valid_until: datetime | None


_lock = threading.Lock()
_entries: OrderedDict[tuple[int, str], Entry] = OrderedDict()
stats = {"hits": 0, "misses": 0}


def clear() -> None:
    with _lock:
        _entries.clear()


def facts_versions(system_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for start in range(0, len(system_ids), CHUNK):
        found |= dict(FactsVersion.objects.filter(system_id__in=system_ids[start:start + CHUNK])
                      .values_list("system_id", "version"))
    return found


def _owners(system: AISystem) -> tuple[object, ...]:
    people = (system.business_owner, system.technical_owner, system.risk_owner)
    return tuple(None if p is None else (p.pk, p.is_active) for p in people)


def _valid_until(results: list[ControlResult], evaluation_valid_until: datetime | None,
                 now: datetime) -> datetime | None:
    moments = [m for r in results for e in r.evidence if (m := e.valid_until) is not None]
    if evaluation_valid_until is not None:
        moments.append(evaluation_valid_until)
    today = now.date()
    moments += [datetime.combine(r.control.applies_from, time.min, tzinfo=UTC) for r in results
                if r.control.applies_from is not None and r.control.applies_from > today]
    return min(moments) if moments else None


def statuses_many(systems: list[AISystem], now: datetime, library: Library, framework_id: str,
                  policy: Policy | None) -> dict[int, tuple[str, ...]]:
    """Per system (read through ``for_facts``), the status of each control of the framework, in file
    order. With no usable policy nothing is kept (every status is then "failed", computed each time)."""
    versions = facts_versions([s.pk for s in systems])  # before the facts: see the module's docstring
    found: dict[int, tuple[str, ...]] = {}
    stamps: dict[int, tuple[object, ...]] = {}
    missed: list[AISystem] = []
    with _lock:
        for system in systems:
            version = versions.get(system.pk, 0)
            stamp = (version, policy.version if policy else None, library.version, _owners(system), system.vendor)
            entry = _entries.get((system.pk, framework_id))
            if (policy is not None and version != UNTRUSTED_FACTS and entry is not None and entry.stamp == stamp
                    and (entry.valid_until is None or now < entry.valid_until)):
                _entries.move_to_end((system.pk, framework_id))
                found[system.pk] = entry.statuses
            else:
                stamps[system.pk] = stamp
                missed.append(system)
    stats["hits"] += len(found)
    stats["misses"] += len(missed)
    if not missed:
        return found
    computed = compliance_many(missed, now, library, [framework_id], policy=policy)
    fresh: dict[tuple[int, str], Entry] = {}
    for system in missed:
        sc = computed[system.pk]
        results = sc.results[framework_id]
        statuses = tuple(r.status for r in results)
        found[system.pk] = statuses
        if policy is not None and versions.get(system.pk, 0) != UNTRUSTED_FACTS and sc.evaluated:
            fresh[(system.pk, framework_id)] = Entry(stamps[system.pk], statuses,
                                                     _valid_until(results, sc.valid_until, now))
    with _lock:
        _entries.update(fresh)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return found
