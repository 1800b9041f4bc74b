"""Statement of applicability and control status, computed from the gate's own facts and engine.

Nothing here judges evidence the gate also judges: a control mapped to readiness requirement R takes
R's status and reason from ``governance.policy.engine.evaluate`` run on the snapshot
``governance.selectors.facts.collect_facts_many`` reads (the gate's code path), with the active
policy version the gate decides with. So the compliance page can never say "met" where the gate
says "missing". Status is not stored: every read computes it (a fixed number of queries for any
number of systems).

Which environment: compliance is about the system as it runs for people, so requirements are read
in ``production`` (or the policy's first environment when it has none).

Combining a control's evidence (each mapped requirement that applies, and the attestation when the
mapping asks for one): one input gives its status unchanged; several give ``failed`` if any failed,
``met`` when all are met, ``waived`` when all pass and one is waived, ``partially_met`` when some pass,
else ``stale`` when any is stale, else ``missing``. A requirement the policy puts out of scope for the
system (its tier or condition) or leaves out of the environment gives no evidence; when nothing is
left, the control is ``not_applicable`` with the engine's reason. A requirement id the active policy
does not have at all is ``failed`` (the mapping is out of date: fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from catalog.models import AISystem
from clearance.policyfile import PolicyError
from compliance.choices import COVERED, ControlStatus
from compliance.facts import AttestationFact, ComplianceFacts, compliance_facts
from compliance.facts import Profile as Profile
from compliance.facts import profile_of as profile_of
from compliance.loader import Control, Framework, Library, Mapping, load_library
from governance.choices import RequirementStatus
from governance.policy.checks import REGISTRY
from governance.policy.engine import ABSENT, NOT_APPLICABLE, Evaluation, evaluate
from governance.policy.facts import SystemFacts
from governance.policy.loader import Policy, load_readiness_policy
from governance.selectors.evidence import choose_environment
from governance.selectors.facts import collect_facts_many

ENVIRONMENT = "production"

# Facts are read this many systems at a time: the gate's snapshot query for evaluation results is one
# OR of (system, metric) pairs, which SQLite refuses past a depth of 1,000 terms. So the query count
# grows by the facts' fixed count per 200 systems (measured by bench/compliance_coverage.py).
FACTS_CHUNK = 200


@dataclass(frozen=True)
class Evidence:
    kind: str  # "requirement" or "attestation"
    ref: str  # the requirement id, or the attestation's control key
    status: str
    message: str
    fix: str = ""
    # When this evidence stops holding by time alone (an attestation's expiry).
    valid_until: datetime | None = None


@dataclass(frozen=True)
class ControlResult:
    control: Control
    status: str
    reason: str
    evidence: tuple[Evidence, ...] = ()
    in_force: bool = True

    @property
    def applicable(self) -> bool:
        return self.status != ControlStatus.NOT_APPLICABLE

    @property
    def attestable(self) -> bool:
        return any(e.kind == "attestation" for e in self.evidence)

    @property
    def fix(self) -> str:
        return next((e.fix for e in self.evidence if e.fix and e.status not in COVERED), "")


def applicability(control: Control, facts: SystemFacts, profile: Profile) -> tuple[bool, str]:
    """Whether the control binds this system, and why (or why not), from the framework's data."""
    rule = control.applies
    why: list[str] = []
    if rule.roles is not None:
        if profile.role not in rule.roles:
            return False, f"binds {', '.join(rule.roles)}; we are the {profile.role}"
        why.append(f"we are the {profile.role}")
    if rule.tiers is not None:
        if facts.risk_tier not in rule.tiers:
            return False, f"for {', '.join(rule.tiers)}-risk systems; this one is {facts.risk_tier}"
        why.append(f"tier {facts.risk_tier}")
    if rule.gpai is not None:
        if profile.gpai_model not in rule.gpai:
            return False, "for providers of general-purpose AI models; this system provides none of that kind"
        why.append(f"general-purpose model ({profile.gpai_model})")
    if rule.generative is not None:
        if profile.generative != rule.generative:
            return False, "for generative AI systems; this one is not marked generative"
        why.append("generative")
    return True, ", ".join(why) or "applies to every system"


_PASSING = frozenset({"met", "waived"})


def combine(inputs: list[Evidence]) -> str:
    statuses = [str(e.status) for e in inputs]
    if len(statuses) == 1:
        return statuses[0]
    passing = sum(1 for s in statuses if s in _PASSING)
    if "failed" in statuses:
        return ControlStatus.FAILED.value
    if passing == len(statuses):
        return ControlStatus.WAIVED.value if "waived" in statuses else ControlStatus.MET.value
    if passing:
        return ControlStatus.PARTIALLY_MET.value
    return ControlStatus.STALE.value if "stale" in statuses else ControlStatus.MISSING.value


# One object for every control nobody has attested (the page links the control itself).
MISSING_ATTESTATION = Evidence("attestation", "", ControlStatus.MISSING.value, "nobody has attested this control",
                               "An owner of the system attests it on this page, with a statement and evidence.")


def attestation_evidence(key: str, attestation: AttestationFact | None, now: datetime) -> Evidence:
    if attestation is None:
        return MISSING_ATTESTATION
    who = attestation.owner
    if attestation.is_stale(now):
        return Evidence("attestation", key, ControlStatus.STALE.value,
                        f"attested by {who} on {attestation.reviewed_at:%Y-%m-%d}; stale since "
                        f"{attestation.expires_at:%Y-%m-%d %H:%M} UTC",
                        "Review the attestation and record it again.")
    return Evidence("attestation", key, ControlStatus.MET.value,
                    f"attested by {who} on {attestation.reviewed_at:%Y-%m-%d}, valid until "
                    f"{attestation.expires_at:%Y-%m-%d}: {attestation.statement}",
                    valid_until=attestation.expires_at)


class Judge:
    """Judges the controls of one system against one evaluation. What every control of the system
    shares (the engine's outcome per requirement, applicability per rule, the evidence of one set of
    requirements) is worked out once, so judging 300 controls costs little more than judging one."""

    def __init__(self, facts: SystemFacts, profile: Profile, policy: Policy | None, evaluation: Evaluation | None,
                 failure: str, now: datetime) -> None:
        self.facts, self.profile, self.policy, self.evaluation, self.failure, self.now = (
            facts, profile, policy, evaluation, failure, now)
        self.today = now.date()
        self.known = frozenset(r.id for r in policy.requirements) if policy is not None else frozenset()
        # A requirement that itself judges controls (framework_controls) cannot evidence one: the gate
        # judges it last and gives such a mapping "failed", so the pages say the same.
        self.circular = frozenset(r.id for r in policy.requirements if (t := REGISTRY.get(r.check)) is not None
                                  and t.on_results is not None) if policy is not None else frozenset()
        self.outcomes: dict[str, tuple[str, str, str]] = {}
        if evaluation is not None:
            fixes = {r.id: r.fix for r in evaluation.requirements}
            for req_id in self.known:
                status, message = evaluation.outcome_of(req_id)
                if req_id in self.circular:
                    status, message = RequirementStatus.FAILED.value, "a framework_controls requirement cannot evidence a control"
                self.outcomes[req_id] = (str(status), message, fixes.get(req_id, ""))
        self._applies: dict[object, tuple[bool, str]] = {}
        self._requirements: dict[tuple[str, ...], tuple[list[Evidence], list[str]]] = {}
        # (requirements, whether an attestation is asked for and missing) -> (evidence, combined status)
        self._combined: dict[tuple[tuple[str, ...], bool], tuple[tuple[Evidence, ...], str]] = {}

    def _requirement_evidence(self, requirements: tuple[str, ...]) -> tuple[list[Evidence], list[str]]:
        cached = self._requirements.get(requirements)
        if cached is not None:
            return cached
        inputs: list[Evidence] = []
        dropped: list[str] = []
        for req_id in requirements:
            if self.evaluation is None:
                inputs.append(Evidence("requirement", req_id, RequirementStatus.FAILED.value, self.failure))
            elif req_id not in self.known:
                inputs.append(Evidence("requirement", req_id, RequirementStatus.FAILED.value,
                                       f"the active policy {self.evaluation.policy_name} has no requirement "
                                       f"{req_id!r}; the mapping is out of date",
                                       "Fix the mapping file and run `manage.py framework_lint`."))
            else:
                status, message, fix = self.outcomes[req_id]
                if status in (NOT_APPLICABLE, ABSENT):
                    dropped.append(f"{req_id}: {message}")
                else:
                    inputs.append(Evidence("requirement", req_id, status, message, fix))
        self._requirements[requirements] = (inputs, dropped)
        return inputs, dropped

    def control(self, control: Control, mapping: Mapping, attestation: AttestationFact | None) -> ControlResult:
        in_force = control.applies_from is None or control.applies_from <= self.today
        decided = self._applies.get(control.applies)
        if decided is None:
            decided = self._applies[control.applies] = applicability(control, self.facts, self.profile)
        applies, why = decided
        if not applies:
            return ControlResult(control, ControlStatus.NOT_APPLICABLE.value, why, in_force=in_force)
        if self.policy is None:
            # Which requirements evidence the control depends on the policy: with none, nothing is known.
            return ControlResult(control, ControlStatus.FAILED.value, self.failure,
                                 (Evidence("policy", "readiness policy", ControlStatus.FAILED.value, self.failure,
                                           "Activate a readiness policy that loads (`manage.py policy activate`)."),),
                                 in_force)
        inputs, dropped = self._requirement_evidence(mapping.requirements)
        if mapping.attestation and attestation is not None:
            evidence = (*inputs, attestation_evidence(control.key, attestation, self.now))
            return ControlResult(control, combine(list(evidence)), why, evidence, in_force)
        shared = (mapping.requirements, mapping.attestation)
        combined = self._combined.get(shared)
        if combined is None:
            evidence = (*inputs, MISSING_ATTESTATION) if mapping.attestation else tuple(inputs)
            combined = self._combined[shared] = (evidence, combine(list(evidence)) if evidence else "")
        if not combined[0]:
            return ControlResult(control, ControlStatus.NOT_APPLICABLE.value,
                                 "the policy requires none of its evidence of this system (" + "; ".join(dropped) + ")",
                                 in_force=in_force)
        return ControlResult(control, combined[1], why, combined[0], in_force)


def judge_control(control: Control, mapping: Mapping, facts: SystemFacts, profile: Profile,
                  policy: Policy | None, evaluation: Evaluation | None, failure: str,
                  attestation: AttestationFact | None, now: datetime) -> ControlResult:
    """One control for one system. ``evaluation`` is the engine's verdict for the system (None with
    ``failure`` saying why: no policy, or an evaluation that raised)."""
    return Judge(facts, profile, policy, evaluation, failure, now).control(control, mapping, attestation)


_DEFAULT_MAPPINGS: dict[str, Mapping] = {}


def _attestation_only(key: str) -> Mapping:
    mapping = _DEFAULT_MAPPINGS.get(key)
    if mapping is None:
        mapping = _DEFAULT_MAPPINGS[key] = Mapping(key, (), True)
    return mapping


@dataclass
class SystemCompliance:
    system: AISystem
    profile: Profile
    environment: str = ""
    policy_name: str = ""
    policy_error: str = ""
    # framework id -> one result per control, in file order
    results: dict[str, list[ControlResult]] = field(default_factory=dict)
    # Whether the engine judged the system (False: no policy, or the evaluation raised), and until when
    # its verdict holds by time alone (compliance.cache keeps statuses no longer).
    evaluated: bool = False
    valid_until: datetime | None = None

    def counts(self, framework_id: str) -> dict[str, int]:
        found = dict.fromkeys(ControlStatus.values, 0)
        for r in self.results.get(framework_id, []):
            found[r.status] += 1
        return found


def _policy() -> tuple[Policy | None, str]:
    try:
        return load_readiness_policy(), ""
    except PolicyError as exc:
        return None, f"the readiness policy could not be loaded: {exc.message}"


def compliance_many(systems: Iterable[AISystem], now: datetime, library: Library | None = None,
                    frameworks: list[str] | None = None, policy: Policy | None = None) -> dict[int, SystemCompliance]:
    """Each system's statement of applicability and control status, in a number of queries that does
    not grow with the number of controls, nor with the number of systems up to ``FACTS_CHUNK`` (then by
    one snapshot's queries per chunk); systems read through ``for_facts``."""
    by_id = {s.pk: s for s in systems}
    library = library or load_library()
    chosen: list[Framework] = [library.frameworks[f] for f in (frameworks or list(library.frameworks))]
    listed = list(by_id.values())
    facts: dict[int, SystemFacts] = {}
    for start in range(0, len(listed), FACTS_CHUNK):
        facts |= collect_facts_many(listed[start:start + FACTS_CHUNK], now)
    policy_error = ""
    if policy is None:
        policy, policy_error = _policy()
    environment = choose_environment(policy, ENVIRONMENT) if policy is not None else ""
    mappings = library.mappings.get(policy.name, {}) if policy is not None else {}
    out: dict[int, SystemCompliance] = {}
    for pk, system in by_id.items():
        evaluation: Evaluation | None = None
        failure = policy_error
        if policy is not None:
            try:
                evaluation = evaluate(policy, environment, facts[pk], now)
            except Exception as exc:  # fail closed, as the gate does
                failure = f"the evaluation could not complete: {exc}"
        # The operator role and attestations come with the gate's snapshot (compliance.facts).
        extra = compliance_facts(facts[pk].extra) or ComplianceFacts(profile_of(system, None))
        profile = extra.profile
        sc = SystemCompliance(system, profile, environment, policy.name if policy else "", policy_error,
                              evaluated=evaluation is not None,
                              valid_until=evaluation.valid_until if evaluation is not None else None)
        judge = Judge(facts[pk], profile, policy, evaluation, failure, now)
        for framework in chosen:
            sc.results[framework.id] = [
                judge.control(control, mappings.get(control.key) or _attestation_only(control.key),
                              extra.attestations.get(control.key))
                for control in framework.controls
            ]
        out[pk] = sc
    return out


@dataclass
class Coverage:
    framework: Framework
    applicable: int = 0
    met: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    families: list[str] = field(default_factory=list)
    # per system: (system, per family (met, applicable), share met over all its applicable controls)
    rows: list[tuple[AISystem, list[tuple[int, int]], int, int]] = field(default_factory=list)
    # per date of application: (date, upcoming, systems bound, systems with an unmet control)
    calendar: list[tuple[date, bool, int, int]] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        return self.met / self.applicable if self.applicable else None


def coverage(framework_id: str, systems: list[AISystem], now: datetime, library: Library | None = None) -> Coverage:
    """Share of applicable controls met across the systems, and a systems × family table. Statuses come
    from ``compliance.cache`` (computed by ``compliance_many`` for the systems whose facts changed)."""
    from compliance.cache import statuses_many  # the cache builds on this module

    library = library or load_library()
    framework = library.frameworks[framework_id]
    result = Coverage(framework, totals={s: 0 for s in ControlStatus.values},
                      families=[f.id for f in framework.families])
    policy, _ = _policy()
    per_system = statuses_many(systems, now, library, framework_id, policy)
    controls = framework.controls
    index = {f: i for i, f in enumerate(result.families)}
    today = now.date()
    dated = [(i, c.applies_from) for i, c in enumerate(controls) if c.applies_from is not None]
    found: dict[date, list[int]] = {}
    for system in systems:
        statuses = per_system[system.pk]
        cells = [[0, 0] for _ in result.families]
        met = applicable = 0
        for control, status in zip(controls, statuses, strict=True):
            result.totals[status] += 1
            if status == ControlStatus.NOT_APPLICABLE:
                continue
            cell = cells[index[control.family]]
            cell[1] += 1
            applicable += 1
            if status in COVERED:
                cell[0] += 1
                met += 1
        result.applicable += applicable
        result.met += met
        result.rows.append((system, [(m, a) for m, a in cells], met, applicable))
        # The obligation calendar: per date of application, is the system bound from then, and is one unmet?
        bound: dict[date, bool] = {}
        for i, when in dated:
            if statuses[i] != ControlStatus.NOT_APPLICABLE:
                bound[when] = bound.get(when, False) or statuses[i] not in COVERED
        for when, unmet in bound.items():
            counts = found.setdefault(when, [0, 0])
            counts[0] += 1
            counts[1] += 1 if unmet else 0
    result.calendar = [(d, d > today, found[d][0], found[d][1]) for d in sorted(found)]
    return result


@dataclass
class CalendarDate:
    """One date of application: the applicable controls that start (or started) binding then, and
    those of them not met."""

    on: date
    upcoming: bool
    controls: list[ControlResult] = field(default_factory=list)

    @property
    def unmet(self) -> list[ControlResult]:
        return [r for r in self.controls if r.status not in COVERED]


def obligation_calendar(sc: SystemCompliance, now: datetime) -> list[CalendarDate]:
    """The system's applicable controls that carry a date of application, by date (oldest first)."""
    by_date: dict[date, CalendarDate] = {}
    for results in sc.results.values():
        for r in results:
            when = r.control.applies_from
            if when is None or not r.applicable:
                continue
            entry = by_date.get(when)
            if entry is None:
                entry = by_date[when] = CalendarDate(when, when > now.date())
            entry.controls.append(r)
    return [by_date[d] for d in sorted(by_date)]


def portfolio_calendar(per_system: dict[int, SystemCompliance], now: datetime) -> list[tuple[date, bool, int, int]]:
    """Per date of application: (date, upcoming, systems bound from then, systems with an unmet one)."""
    found: dict[date, list[int]] = {}
    for sc in per_system.values():
        for entry in obligation_calendar(sc, now):
            counts = found.setdefault(entry.on, [0, 0])
            counts[0] += 1
            counts[1] += 1 if entry.unmet else 0
    return [(d, d > now.date(), found[d][0], found[d][1]) for d in sorted(found)]
