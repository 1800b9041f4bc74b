"""The CI report formats of clearance-check: JUnit XML, SARIF 2.1.0, GitHub, GitLab code quality.

Structure is checked against what the consumers read (FORMATS.md) and, for SARIF, against the
SARIF 2.1.0 object model (sarif-pydantic: required properties, enums such as ``level``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from sarif_pydantic import Sarif

from tests.governance.test_gate_client_offline import BLOCK_DOC, PASS_DOC, GateServer, Reply, check
from tests.governance.test_gate_client_offline import gate as gate  # noqa: F401 - the fixture

BLOCK_WITH_DETAILS = {
    **BLOCK_DOC,
    "requirements": [
        *BLOCK_DOC["requirements"][:2],
        {**BLOCK_DOC["requirements"][2], "severity": "minor", "since": "2025-04-01T00:00:00+00:00",
         "fix_url": "https://clearance.example.com/systems/support-copilot/settings/"},
        {"id": "runbook", "title": "Runbook linked", "status": "waived", "message": "waived by rita until 2025-06-01",
         "fix": "", "evidence": {}},
    ],
    "warnings": ["the readiness policy file does not load; this verdict uses the last good version"],
}


def report(gate: Callable[..., GateServer], tmp_path: Path, fmt: str, doc: dict) -> tuple[int, str, str]:
    out = tmp_path / f"report.{fmt}"
    result = check(gate(Reply(body=doc)), "--format", fmt, "--output", str(out))
    return result.returncode, out.read_text(encoding="utf-8"), result.stdout


def test_junit_has_one_case_per_requirement_and_a_failure_per_unmet(gate, tmp_path):
    code, text, stdout = report(gate, tmp_path, "junit", BLOCK_WITH_DETAILS)
    assert code == 1 and "Clearance gate: BLOCK" in stdout
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "clearance support-copilot production"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    cases = suite.findall("testcase")
    assert [c.get("name").split(":")[0] for c in cases] == ["risk-assessment", "model-card", "red-team", "runbook"]
    assert all(c.get("classname") for c in cases)
    failures = {c.get("name").split(":")[0]: c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failures) == {"model-card", "red-team"}
    assert failures["red-team"].get("message") == "Review older than 90 days"
    assert "since 2025-04-01" in failures["red-team"].text and "settings/" in failures["red-team"].text
    assert cases[3].find("skipped") is not None


def test_junit_for_a_pass_has_no_failure(gate, tmp_path):
    code, text, _ = report(gate, tmp_path, "junit", PASS_DOC)
    assert code == 0
    assert ET.fromstring(text.encode()).find("testsuite").get("failures") == "0"


def test_sarif_is_valid_2_1_0_with_rules_for_requirements(gate, tmp_path):
    code, text, _ = report(gate, tmp_path, "sarif", BLOCK_WITH_DETAILS)
    assert code == 1
    doc = json.loads(text)
    Sarif.model_validate(doc)  # raises on a structure SARIF 2.1.0 does not allow
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "clearance-check" and driver["version"]
    assert [r["id"] for r in driver["rules"]] == ["risk-assessment", "model-card", "red-team", "runbook"]
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == {"model-card", "red-team"}
    assert results["red-team"]["level"] == "warning" and results["model-card"]["level"] == "error"
    assert all(r["message"]["text"] and r["locations"] for r in results.values())
    assert driver["rules"][results["red-team"]["ruleIndex"]]["id"] == "red-team"


def test_sarif_for_a_pass_has_no_results(gate, tmp_path):
    _, text, _ = report(gate, tmp_path, "sarif", PASS_DOC)
    doc = json.loads(text)
    Sarif.model_validate(doc)
    assert doc["runs"][0]["results"] == []


def test_gitlab_code_quality_is_an_array_of_issues(gate, tmp_path):
    code, text, _ = report(gate, tmp_path, "gitlab", BLOCK_WITH_DETAILS)
    assert code == 1 and not text.startswith("\ufeff")
    issues = json.loads(text)
    assert isinstance(issues, list) and len(issues) == 2
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["path"] and issue["location"]["lines"]["begin"] >= 1
    assert len({i["fingerprint"] for i in issues}) == 2
    again = json.loads(report(gate, tmp_path, "gitlab", BLOCK_WITH_DETAILS)[1])
    assert [i["fingerprint"] for i in again] == [i["fingerprint"] for i in issues], "stable across runs"
    assert json.loads(report(gate, tmp_path, "gitlab", PASS_DOC)[1]) == []


def test_github_format_prints_annotations_then_the_report(gate):
    result = check(gate(Reply(body=BLOCK_WITH_DETAILS)), "--format", "github")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("::error title=model-card::No model card uploaded")
    assert lines[1].startswith("::error title=red-team::")
    assert any(line.startswith("Clearance gate: BLOCK") for line in lines)


def test_text_report_shows_since_where_to_fix_and_warnings(gate):
    result = check(gate(Reply(body=BLOCK_WITH_DETAILS)))
    assert "since: 2025-04-01T00:00:00+00:00" in result.stdout
    assert "at: https://clearance.example.com/systems/support-copilot/settings/" in result.stdout
    assert "WARNING: the readiness policy file does not load" in result.stdout
    assert "[waived]" in result.stdout


def test_a_pass_with_an_unmet_requirement_is_an_error_not_a_pass(gate):
    inconsistent = {**PASS_DOC, "requirements": BLOCK_DOC["requirements"]}
    result = check(gate(Reply(body=inconsistent)))
    assert result.returncode == 2 and "inconsistent" in result.stderr


@pytest.mark.parametrize("fmt", ["junit", "sarif", "gitlab", "github"])
def test_every_format_under_github_actions_still_writes_the_step_summary(gate, tmp_path, fmt):
    summary = tmp_path / "summary.md"
    result = check(gate(Reply(body=BLOCK_WITH_DETAILS)), "--format", fmt, "--output", str(tmp_path / "r"),
                   env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1
    assert "Clearance gate: BLOCK" in summary.read_text(encoding="utf-8")
    assert result.stdout.count("::error title=") == 2
