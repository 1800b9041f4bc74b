"""What compliance adds to the gate's facts snapshot: the system's operator role and the latest
attestation of each control, as plain frozen data under ``SystemFacts.extra["compliance"]``.

Read by the same ``collect_facts_many`` the gate uses, so the compliance pages and the
``framework_controls`` check judge one snapshot. A system with neither an operator profile nor an
attestation (the ``for_facts`` columns say so) costs no query; others cost two for any number of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef

from catalog.models import AISystem
from compliance.choices import GpaiModel, OperatorRole
from compliance.models import Attestation, OperatorProfile

NAME = "compliance"


@dataclass(frozen=True)
class Profile:
    """The system's operator role and model facts; ``derived`` when no one has set them yet."""

    role: str
    gpai_model: str
    generative: bool
    derived: bool
    reason: str


@dataclass(frozen=True)
class AttestationFact:
    control: str
    owner: str
    statement: str
    reviewed_at: datetime
    expires_at: datetime
    evidence_url: str = ""

    def is_stale(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class ComplianceFacts:
    profile: Profile
    # control key -> the latest attestation reviewed by the snapshot's moment
    attestations: dict[str, AttestationFact] = field(default_factory=dict)


def profile_of(system: AISystem, row: OperatorProfile | None) -> Profile:
    if row is not None:
        return Profile(row.role, row.gpai_model, row.generative, False,
                       f"set by {row.updated_by.get_username() if row.updated_by else 'the system'}")
    if system.vendor:
        return Profile(OperatorRole.DEPLOYER, GpaiModel.NONE, False, True,
                       f"assumed: bought from {system.vendor} and used under our authority (set it on this page)")
    return Profile(OperatorRole.PROVIDER, GpaiModel.NONE, False, True,
                   "assumed: built in-house and put into service under our name (set it on this page)")


def columns() -> dict[str, Any]:
    return {
        "facts_compliance_profile": Exists(OperatorProfile.objects.filter(system=OuterRef("pk"))),
        "facts_compliance_attested": Exists(Attestation.objects.filter(system=OuterRef("pk"))),
    }


def collect(systems: dict[int, AISystem], now: datetime) -> dict[int, ComplianceFacts]:
    def worth_reading(system: AISystem) -> bool:
        # Systems read without the columns are read in full (fail towards reading, not towards absence).
        return bool(getattr(system, "facts_compliance_profile", True) or getattr(system, "facts_compliance_attested", True))

    wanted = [pk for pk, system in systems.items() if worth_reading(system)]
    profiles: dict[int, OperatorProfile] = {}
    latest: dict[int, dict[str, AttestationFact]] = {}
    if wanted:
        profiles = {p.system_id: p for p in OperatorProfile.objects.filter(system__in=wanted).select_related("updated_by")}
        rows = (Attestation.objects.filter(system__in=wanted, reviewed_at__lte=now)
                .order_by("system_id", "control", "-reviewed_at", "-pk")
                .values("system_id", "control", "owner__username", "statement", "reviewed_at", "expires_at",
                        "evidence_url"))
        for row in rows:
            mine = latest.setdefault(row["system_id"], {})
            if row["control"] not in mine:
                mine[row["control"]] = AttestationFact(row["control"], row["owner__username"], row["statement"],
                                                       row["reviewed_at"], row["expires_at"], row["evidence_url"])
    return {pk: ComplianceFacts(profile_of(system, profiles.get(pk)), latest.get(pk, {}))
            for pk, system in systems.items()}


def compliance_facts(extra: dict[str, Any]) -> ComplianceFacts | None:
    found = extra.get(NAME)
    return found if isinstance(found, ComplianceFacts) else None
