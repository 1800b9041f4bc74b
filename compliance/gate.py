"""The ``framework_controls`` check: the gate blocks while an applicable control of a framework (or of
the named controls or families) is not met.

It judges the controls with ``compliance.selectors.Judge``, the code the compliance pages use, on the
same facts snapshot and on the gate's own results for every other requirement of the environment (the
engine runs it after them). So the gate and the statement of applicability cannot disagree, and
nothing is stored: each evaluation judges again. Missing, stale, failed, partially met and anything
that cannot be decided (no library, an unknown framework or control, facts not read) never pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from compliance.choices import ControlStatus
from compliance.facts import compliance_facts
from compliance.loader import Control, Library, LibraryError, Mapping, load_library
from compliance.selectors import ControlResult, Judge
from governance.choices import RequirementStatus
from governance.policy.checks import Outcome, register_results_check
from governance.policy.engine import Evaluation
from governance.policy.loader import Policy

NAME = "framework_controls"

# Only these may count as met; missing, stale, failed and not applicable never do.
COUNTABLE = [ControlStatus.MET.value, ControlStatus.WAIVED.value, ControlStatus.PARTIALLY_MET.value]
DEFAULT_COUNT_AS_MET = [ControlStatus.MET.value, ControlStatus.WAIVED.value]

_NAMES = {"type": "array", "minItems": 1, "uniqueItems": True,
          "items": {"type": "string", "minLength": 1, "maxLength": 60}}

PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["framework"],
    "properties": {
        # A framework id of the library (FRAMEWORK_DIR), e.g. eu-ai-act.
        "framework": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 40},
        # Only these control ids (without the framework prefix), or only the controls of these families.
        "controls": _NAMES,
        "families": _NAMES,
        # Which statuses count as met (default met and waived).
        "count_as_met": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": COUNTABLE}},
        # Also require controls whose date of application has not come yet (default: only those in force).
        "include_upcoming": {"type": "boolean"},
    },
}

# Say at most this many reasons in the message; every unmet control is still named, and all are in the evidence.
MAX_REASONS = 10


def _chosen(library: Library, params: dict[str, Any]) -> tuple[list[Control], str]:
    framework = library.frameworks.get(params["framework"])
    if framework is None:
        return [], (f"no framework {params['framework']!r} is loaded (known: "
                    f"{', '.join(sorted(library.frameworks)) or 'none'})")
    controls = list(framework.controls)
    if "controls" in params:
        ids = {c.id for c in controls}
        unknown = [c for c in params["controls"] if c not in ids]
        if unknown:
            return [], f"framework {framework.id} has no control {', '.join(repr(c) for c in unknown)}"
        wanted = set(params["controls"])
        controls = [c for c in controls if c.id in wanted]
    if "families" in params:
        families = {f.id for f in framework.families}
        unknown = [f for f in params["families"] if f not in families]
        if unknown:
            return [], f"framework {framework.id} has no family {', '.join(repr(f) for f in unknown)}"
        wanted = set(params["families"])
        controls = [c for c in controls if c.family in wanted]
    if not controls:
        return [], f"the selection names no control of framework {framework.id}"
    return controls, ""


def why_unmet(result: ControlResult, count_as_met: frozenset[str]) -> str:
    parts = [f"{e.ref or e.kind}: {e.message}" for e in result.evidence if e.status not in count_as_met]
    return "; ".join(parts) or result.reason


def framework_controls(facts: Any, params: dict[str, Any], now: datetime, policy: Policy,
                       evaluation: Evaluation) -> Outcome:
    try:
        library = load_library()
    except LibraryError as exc:
        return Outcome(RequirementStatus.FAILED, f"the framework library does not load: {exc}")
    controls, problem = _chosen(library, params)
    if problem:
        return Outcome(RequirementStatus.FAILED, problem, {"framework": params["framework"]})
    extra = compliance_facts(facts.extra)
    if extra is None:
        return Outcome(RequirementStatus.MISSING, "the operator role and attestations were not read for this system")
    count_as_met = frozenset(params.get("count_as_met", DEFAULT_COUNT_AS_MET))
    include_upcoming = bool(params.get("include_upcoming", False))
    mappings = library.mappings.get(policy.name, {})
    judge = Judge(facts, extra.profile, policy, evaluation, "", now)
    results = [judge.control(c, mappings.get(c.key) or Mapping(c.key, (), True), extra.attestations.get(c.key))
               for c in controls]
    required = [r for r in results if r.applicable and (r.in_force or include_upcoming)]
    upcoming = [r for r in results if r.applicable and not r.in_force and not include_upcoming]
    unmet = [r for r in required if r.status not in count_as_met]
    framework = params["framework"]
    evidence: dict[str, Any] = {
        "framework": framework, "library": library.version, "count_as_met": sorted(count_as_met),
        "required": [r.control.key for r in required],
        "not_applicable": len(results) - len(required) - len(upcoming),
        "upcoming": [{"control": r.control.key, "from": r.control.applies_from.isoformat()}
                     for r in upcoming if r.control.applies_from],
        "unmet": [{"control": r.control.key, "title": r.control.title, "status": r.status,
                   "why": why_unmet(r, count_as_met)} for r in unmet],
    }
    # The outcome changes with time alone when a control comes into force or an attestation expires.
    moments = [datetime.combine(r.control.applies_from, time.min, tzinfo=UTC) for r in upcoming
               if r.control.applies_from]
    if unmet:
        shown = [f"{r.control.key} {r.control.title} ({r.status}: {why_unmet(r, count_as_met)})"
                 for r in unmet[:MAX_REASONS]]
        rest = [r.control.key for r in unmet[MAX_REASONS:]]
        message = (f"{len(unmet)} of {len(required)} applicable {framework} controls not met: " + "; ".join(shown)
                   + (f"; also not met: {', '.join(rest)}" if rest else ""))
        status = RequirementStatus.FAILED if any(r.status == ControlStatus.FAILED for r in unmet) else (
            RequirementStatus.STALE if all(r.status == ControlStatus.STALE for r in unmet) else RequirementStatus.MISSING)
        return Outcome(status, message, evidence)
    for r in required:
        moments += [e.valid_until for e in r.evidence if e.valid_until is not None]
    if not required:
        message = f"no control of {framework} in the selection applies to this system"
    else:
        message = f"all {len(required)} applicable {framework} controls met"
    if upcoming:
        message += f" ({len(upcoming)} more apply from a later date)"
    return Outcome(RequirementStatus.MET, message, evidence, valid_until=min(moments) if moments else None)


def register() -> None:
    register_results_check(NAME, framework_controls, PARAMS_SCHEMA, ("system-compliance", ""))
