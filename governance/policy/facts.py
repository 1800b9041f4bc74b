"""The facts snapshot the engine evaluates: plain frozen data, no ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.choices import PERSONAL_DATA


@dataclass(frozen=True)
class ApprovalFact:
    kind: str
    status: str
    decided_at: datetime | None
    expires_at: datetime | None
    decided_by: str


@dataclass(frozen=True)
class EvalFact:
    metric: str
    value: float
    observed_at: datetime
    model_version: str
    dataset: str
    source: str
    source_run_id: str


@dataclass(frozen=True)
class EvalTarget:
    """What a system requires of one metric (the evidence pipeline's metric requirement)."""

    metric: str
    threshold: float
    higher_is_better: bool
    dataset: str = ""  # blank: a result on any dataset counts
    max_age_days: int | None = None  # the stricter of this and the policy's max_age_days applies
    baseline: float | None = None
    max_regression: float | None = None  # how far past the baseline (in the bad direction) is allowed
    require_version_match: bool = True


@dataclass(frozen=True)
class CostFact:
    """The system's monthly budget and what it has spent so far this month (UTC)."""

    budget: Decimal
    currency: str
    spent: Decimal  # effective cost in the budget's currency since month_start
    month_start: datetime


@dataclass(frozen=True)
class WaiverFact:
    """An approved, time-bound exception to one requirement for this system."""

    requirement: str
    expires_at: datetime
    approved_by: str
    justification: str
    id: int = 0


@dataclass(frozen=True)
class RiskFact:
    """One risk in the register linked to this system, with this system's current acceptance of it."""

    id: int
    title: str
    category: str
    score: int  # likelihood x impact before treatment
    residual_score: int  # after treatment; the score itself while no residual is recorded
    treatment: str  # blank: untreated
    # The system's risk owner's acceptance, when it is active, unexpired and still pinned to the
    # risk's current scores and treatment; otherwise None.
    accepted_until: datetime | None = None
    accepted_by: str = ""


@dataclass(frozen=True)
class IncidentFact:
    """One open incident (not closed) in the register linked to this system."""

    id: int
    title: str
    severity: str  # low, medium, high, critical
    status: str  # triage, investigating, mitigated
    serious: bool  # a serious incident in the EU AI Act's sense (Art. 3(49))
    owner: str = ""  # the handler's username, blank when nobody handles it yet
    owner_name: str = ""  # the handler's name, for people to read


@dataclass(frozen=True)
class SystemFacts:
    slug: str
    risk_tier: str
    lifecycle_stage: str
    data_categories: tuple[str, ...]
    owners: dict[str, str | None]
    inactive_owners: tuple[str, ...] = ()
    # The owners' names for people to read (full name, else username), by role; the checks decide on
    # ``owners`` (usernames) and only say things with these.
    owner_names: dict[str, str] = field(default_factory=dict)
    published_model_card: int | None = None
    model_card_published_at: datetime | None = None
    approvals: tuple[ApprovalFact, ...] = ()
    accepted_decisions: int = 0
    eval_target: EvalTarget | None = None
    latest_eval: EvalFact | None = None
    # Every metric requirement (the primary first) and the latest matching result of each, aligned.
    # Empty means the single eval_target/latest_eval pair above.
    eval_targets: tuple[EvalTarget, ...] = ()
    eval_latest: tuple[EvalFact | None, ...] = ()
    cost: CostFact | None = None  # None: no budget set
    model_version: str = ""
    runbook_url: str = ""
    waivers: tuple[WaiverFact, ...] = ()
    # The risk register (risks/): the risks linked to the system, and the highest residual score its
    # tier carries without an acceptance (settings.RISK_APPETITE; None: not collected, fail closed).
    risks: tuple[RiskFact, ...] = ()
    risk_appetite: int | None = None
    # The incident register (risks/): the system's open incidents; None when the register was not read
    # (a check that needs it then fails closed).
    incidents: tuple[IncidentFact, ...] | None = None
    # When the snapshot was read; the engine refuses to pass on a snapshot older than its limit.
    collected_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def condition_facts(self) -> dict[str, Any]:
        """The facts a requirement's ``when`` condition may read."""
        return {
            "risk_tier": self.risk_tier,
            "lifecycle_stage": self.lifecycle_stage,
            "data_categories": list(self.data_categories),
            "processes_personal_data": bool(PERSONAL_DATA & set(self.data_categories)),
        }


CONDITION_FACT_NAMES = ("risk_tier", "lifecycle_stage", "data_categories", "processes_personal_data")
