"""The EU AI Act's serious-incident rules as data (``risks/serious_incidents.yaml``): which facts make an
incident serious, which reporting deadline applies, and the deadline's arithmetic.

A period of N days runs as Regulation 1182/71 counts it: the day the organisation became aware is not
counted, and the period ends when day N after it ends, in the reporting time zone
(``INCIDENT_REPORTING_TIME_ZONE``). Calendar days, not 24-hour blocks, so a change to or from summer
time inside the period moves nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from clearance.untrusted import load_yaml

RULES_PATH = Path(__file__).with_name("serious_incidents.yaml")


class RulesError(ValueError):
    """The rules file is malformed; the message says where."""


@dataclass(frozen=True)
class Fact:
    id: str
    ref: str
    serious: bool
    label: str


@dataclass(frozen=True)
class Deadline:
    id: str
    days: int
    ref: str
    when_any: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class Rules:
    source: dict[str, str]
    facts: tuple[Fact, ...]
    deadlines: tuple[Deadline, ...]
    initial_report_ref: str

    @property
    def by_id(self) -> dict[str, Fact]:
        return {f.id: f for f in self.facts}

    def deadline(self, deadline_id: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.id == deadline_id), None)

    def is_serious(self, fact_ids: list[str]) -> bool:
        known = self.by_id
        return any(known[f].serious for f in fact_ids if f in known)

    def applicable(self, fact_ids: list[str]) -> Deadline | None:
        """The shortest deadline that applies to a serious incident with these facts; None when the
        facts do not make it serious."""
        if not self.is_serious(fact_ids):
            return None
        chosen = set(fact_ids)
        candidates = [d for d in self.deadlines if not d.when_any or chosen & set(d.when_any)]
        return min(candidates, key=lambda d: (d.days, d.id)) if candidates else None


def _text(node: dict[str, Any], key: str, where: str) -> str:
    value = node.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def parse_rules(text: str) -> Rules:
    data = load_yaml(text)
    if not isinstance(data, dict):
        raise RulesError("the rules must be a mapping")
    source = data.get("source")
    if not isinstance(source, dict) or not all(isinstance(source.get(k), str) for k in ("title", "url")):
        raise RulesError("'source' must name the act and its url")
    if not isinstance(data.get("licence"), str):
        raise RulesError("'licence' must say under which terms the file is shared")
    facts: list[Fact] = []
    for i, node in enumerate(data.get("facts") or []):
        where = f"facts[{i}]"
        if not isinstance(node, dict) or not isinstance(node.get("serious"), bool):
            raise RulesError(f"{where}: must be a mapping with 'serious: true|false'")
        fact = Fact(_text(node, "id", where), _text(node, "ref", where), node["serious"], _text(node, "label", where))
        if any(f.id == fact.id for f in facts):
            raise RulesError(f"{where}: id {fact.id!r} is used twice")
        facts.append(fact)
    if not any(f.serious for f in facts):
        raise RulesError("'facts' must list at least one fact that makes an incident serious")
    known = {f.id for f in facts}
    deadlines: list[Deadline] = []
    for i, node in enumerate(data.get("deadlines") or []):
        where = f"deadlines[{i}]"
        if not isinstance(node, dict):
            raise RulesError(f"{where}: must be a mapping")
        days, when = node.get("days"), node.get("when_any")
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise RulesError(f"{where}: 'days' must be a whole number of at least 1")
        if not isinstance(when, list) or any(w not in known for w in when):
            raise RulesError(f"{where}: 'when_any' must list ids of the facts above")
        deadlines.append(Deadline(_text(node, "id", where), days, _text(node, "ref", where), tuple(when),
                                  _text(node, "label", where)))
    if not any(not d.when_any for d in deadlines):
        raise RulesError("'deadlines' must have one deadline for every serious incident (when_any: [])")
    initial = data.get("initial_report")
    if not isinstance(initial, dict):
        raise RulesError("'initial_report' must give the article that allows an incomplete first report")
    return Rules({k: str(v) for k, v in source.items()}, tuple(facts), tuple(deadlines),
                 _text(initial, "ref", "initial_report"))


@cache
def rules() -> Rules:
    return parse_rules(RULES_PATH.read_text(encoding="utf-8"))


def reporting_zone() -> ZoneInfo:
    return ZoneInfo(str(getattr(settings, "INCIDENT_REPORTING_TIME_ZONE", "") or settings.TIME_ZONE))


def report_due(aware_at: datetime, days: int, zone: ZoneInfo | None = None) -> datetime:
    """The end of the period of ``days`` days that starts the day after ``aware_at`` (in ``zone``): the
    first moment after it, i.e. midnight at the start of day ``days + 1``, as an aware datetime."""
    zone = zone or reporting_zone()
    local_day = aware_at.astimezone(zone).date()
    return datetime.combine(local_day + timedelta(days=days + 1), time(0, 0), tzinfo=zone)
