"""Policy tests: files of cases (facts -> expected verdict per requirement) kept beside the policy.

A test file is YAML::

    apiVersion: clearance/v1
    kind: PolicyTest
    policy: readiness.yaml            # relative to this file
    now: 2026-06-01T00:00:00Z         # the clock the cases are evaluated at
    defaults: {facts: {...}}          # merged under each case's facts (shallow, per key)
    cases:
      - name: a high-risk system with everything passes production
        environment: production
        facts: {risk_tier: high, ...}
        expect:
          verdict: pass
          requirements: {security-approval: met, runbook-linked: not_applicable}

Like ``opa test``: run it in the organisation's own CI before rolling a policy out. Pure: no
database, the same engine as the gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from django.utils.dateparse import parse_datetime

from clearance.policyfile import LineMap, PolicyError, Problem, parse_and_validate
from governance.choices import RequirementStatus
from governance.policy.engine import UnknownEnvironment, evaluate
from governance.policy.facts import (
    ApprovalFact,
    EvalFact,
    EvalTarget,
    IncidentFact,
    RiskFact,
    SystemFacts,
    WaiverFact,
)
from governance.policy.loader import build_policy

TEST_SUFFIX = ".tests.yaml"
EXPECTABLE = [*RequirementStatus.values, "not_applicable", "absent"]

FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "slug": {"type": "string"},
        "risk_tier": {"type": "string"},
        "lifecycle_stage": {"type": "string"},
        "data_categories": {"type": "array", "items": {"type": "string"}},
        "owners": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "inactive_owners": {"type": "array", "items": {"type": "string"}},
        "published_model_card": {"type": ["integer", "null"]},
        "model_card_published_at": {},
        "approvals": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "status"],
                "additionalProperties": False,
                "properties": {"kind": {"type": "string"}, "status": {"type": "string"}, "decided_at": {},
                               "expires_at": {}, "decided_by": {"type": "string"}},
            },
        },
        "accepted_decisions": {"type": "integer", "minimum": 0},
        "eval_target": {
            "type": ["object", "null"],
            "required": ["metric", "threshold"],
            "additionalProperties": False,
            "properties": {"metric": {"type": "string"}, "threshold": {"type": "number"},
                           "higher_is_better": {"type": "boolean"}},
        },
        "latest_eval": {
            "type": ["object", "null"],
            "required": ["metric", "value", "observed_at"],
            "additionalProperties": False,
            "properties": {"metric": {"type": "string"}, "value": {"type": "number"}, "observed_at": {},
                           "model_version": {"type": "string"}, "dataset": {"type": "string"},
                           "source": {"type": "string"}, "source_run_id": {"type": "string"}},
        },
        "model_version": {"type": "string"},
        "runbook_url": {"type": "string"},
        "waivers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["requirement", "expires_at"],
                "additionalProperties": False,
                "properties": {"requirement": {"type": "string"}, "expires_at": {}, "approved_by": {"type": "string"},
                               "justification": {"type": "string"}, "id": {"type": "integer"}},
            },
        },
        # The risk register (check type risks_treated); omit risk_appetite to test the fail-closed case.
        "risk_appetite": {"type": ["integer", "null"], "minimum": 0},
        "risks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "score"],
                "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
                               "category": {"type": "string"}, "score": {"type": "integer", "minimum": 1},
                               "residual_score": {"type": "integer", "minimum": 1},
                               "treatment": {"type": "string"}, "accepted_until": {},
                               "accepted_by": {"type": "string"}},
            },
        },
        # The incident register (check type no_open_incidents): the open incidents; omit it (or give null)
        # to test the fail-closed case of a register that was not read.
        "incidents": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["id", "severity", "status"],
                "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
                               "severity": {"type": "string"}, "status": {"type": "string"},
                               "serious": {"type": "boolean"}, "owner": {"type": "string"},
                               "owner_name": {"type": "string"}},
            },
        },
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "policy", "cases"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "clearance/v1"},
        "kind": {"const": "PolicyTest"},
        "policy": {"type": "string"},
        "now": {},
        "defaults": {"type": "object", "additionalProperties": False, "properties": {"facts": FACTS_SCHEMA}},
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "environment", "facts", "expect"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "environment": {"type": "string"},
                    "now": {},
                    "facts": FACTS_SCHEMA,
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "verdict": {"enum": ["pass", "block"]},
                            "requirements": {"type": "object", "additionalProperties": {"enum": EXPECTABLE}},
                        },
                    },
                },
            },
        },
    },
}


def _required_moment(value: Any, what: str) -> datetime:
    moment = _moment(value, what)
    if moment is None:
        raise ValueError(f"{what}: a date-time with a time zone is required")
    return moment


def _moment(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{what}: {value!r} is not an ISO date-time with a time zone")
    return moment


def facts_from_dict(data: dict[str, Any]) -> SystemFacts:
    """Build the engine's facts snapshot from a test case's plain data."""
    target = data.get("eval_target")
    latest = data.get("latest_eval")
    return SystemFacts(
        slug=data.get("slug", "test-system"),
        risk_tier=data.get("risk_tier", "minimal"),
        lifecycle_stage=data.get("lifecycle_stage", "in_development"),
        data_categories=tuple(data.get("data_categories", [])),
        owners=dict(data.get("owners", {})),
        inactive_owners=tuple(data.get("inactive_owners", [])),
        published_model_card=data.get("published_model_card"),
        model_card_published_at=_moment(data.get("model_card_published_at"), "model_card_published_at"),
        approvals=tuple(
            ApprovalFact(a["kind"], a["status"], _moment(a.get("decided_at"), "approvals.decided_at"),
                         _moment(a.get("expires_at"), "approvals.expires_at"), a.get("decided_by", ""))
            for a in data.get("approvals", [])
        ),
        accepted_decisions=data.get("accepted_decisions", 0),
        eval_target=EvalTarget(target["metric"], float(target["threshold"]), target.get("higher_is_better", True))
        if target else None,
        latest_eval=EvalFact(latest["metric"], float(latest["value"]), _required_moment(latest["observed_at"], "observed_at"),
                             latest.get("model_version", ""), latest.get("dataset", ""), latest.get("source", ""),
                             latest.get("source_run_id", ""))
        if latest else None,
        model_version=data.get("model_version", ""),
        runbook_url=data.get("runbook_url", ""),
        waivers=tuple(
            WaiverFact(w["requirement"], _required_moment(w["expires_at"], "waivers.expires_at"),
                       w.get("approved_by", ""), w.get("justification", ""), w.get("id", 0))
            for w in data.get("waivers", [])
        ),
        risk_appetite=data.get("risk_appetite"),
        risks=tuple(
            RiskFact(r["id"], r.get("title", ""), r.get("category", ""), r["score"],
                     r.get("residual_score", r["score"]), r.get("treatment", ""),
                     _moment(r.get("accepted_until"), "risks.accepted_until"), r.get("accepted_by", ""))
            for r in data.get("risks", [])
        ),
        incidents=None if data.get("incidents") is None else tuple(
            IncidentFact(i["id"], i.get("title", ""), i["severity"], i["status"], bool(i.get("serious", False)),
                         i.get("owner", ""), i.get("owner_name", ""))
            for i in data["incidents"]
        ),
    )


@dataclass
class CaseResult:
    name: str
    environment: str
    line: int | None
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass
class FileResult:
    path: Path
    policy_path: Path
    cases: list[CaseResult]

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]


def run_test_file(path: Path, policy_path: Path | None = None) -> FileResult:
    """Run every case of one test file; raises PolicyError when the file or its policy is invalid."""
    raw = path.read_bytes()
    doc = parse_and_validate(path, raw, SCHEMA)
    lines = LineMap(raw)
    policy_path = policy_path or (path.parent / doc["policy"])
    try:
        policy_raw = policy_path.read_bytes()
    except OSError as exc:
        raise PolicyError(path, problems=[Problem(f"policy {policy_path} cannot be read: {exc.strerror}",
                                                  lines.line(["policy"]))]) from exc
    policy = build_policy(policy_path, policy_raw)
    defaults = (doc.get("defaults") or {}).get("facts", {})
    results = []
    for index, case in enumerate(doc["cases"]):
        result = CaseResult(case["name"], case["environment"], lines.line(["cases", index]))
        results.append(result)
        try:
            now = _moment(case.get("now", doc.get("now")), "now")
            if now is None:
                raise ValueError("now: each test file (or case) needs a fixed clock")
            facts = facts_from_dict({**defaults, **case["facts"]})
            evaluation = evaluate(policy, case["environment"], facts, now)
        except UnknownEnvironment:
            result.mismatches.append(f"unknown environment {case['environment']!r}; known: "
                                     f"{', '.join(policy.environments)}")
            continue
        except ValueError as exc:
            result.mismatches.append(f"bad facts: {exc}")
            continue
        actual = {r.id: r for r in evaluation.requirements}
        skipped = {s["id"]: s for s in evaluation.not_applicable}
        expect = case["expect"]
        if "verdict" in expect and expect["verdict"] != evaluation.verdict:
            unmet = ", ".join(r.id for r in evaluation.unmet) or "none"
            result.mismatches.append(f"verdict: expected {expect['verdict']}, got {evaluation.verdict} (unmet: {unmet})")
        for req_id, wanted in (expect.get("requirements") or {}).items():
            if req_id in actual:
                got, why = actual[req_id].status, actual[req_id].message
            elif req_id in skipped:
                got, why = "not_applicable", skipped[req_id]["reason"]
            else:
                got, why = "absent", f"not a requirement of {case['environment']} in this policy"
            if got != wanted:
                result.mismatches.append(f"{req_id}: expected {wanted}, got {got} ({why})")
    return FileResult(path, policy_path, results)


def discover(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted(target.glob(f"**/*{TEST_SUFFIX}"))
    return [target]


def tests_for(policy_path: Path) -> list[Path]:
    """The test files beside a policy that name it (``policy:``), whatever else lies there."""
    target = policy_path.resolve()
    found = []
    for candidate in sorted(policy_path.parent.glob(f"*{TEST_SUFFIX}")):
        try:
            doc = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        named = doc.get("policy") if isinstance(doc, dict) else None
        if isinstance(named, str) and (candidate.parent / named).resolve() == target:
            found.append(candidate)
    return found
