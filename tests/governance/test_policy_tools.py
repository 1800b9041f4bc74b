"""`manage.py policy lint|test|explain|diff|schema`, the published schema, the loader's last-good
fallback and the fail-closed paths of the gate."""

from __future__ import annotations

import dataclasses
import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clearance.policyfile import CachedLoader, PolicyError
from clearance.tokens import api_token_create
from governance.models import PolicyActivation
from governance.policy import loader as policy_loader
from governance.policy.engine import evaluate
from governance.policy.loader import build_policy, published_schema
from tests.conftest import make_ready
from tests.governance.test_policy_engine import NOW, ready_facts

ROOT = Path(__file__).resolve().parents[2]
POLICY_PATH = ROOT / "policies" / "readiness.yaml"
DEFAULT_TEXT = POLICY_PATH.read_text()


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth occurrence of needle."""
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == nth:
                return number
    raise AssertionError(f"{needle!r} not found")


def lint(path: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("policy", "lint", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("mutate", "anchor", "message"),
    [
        (lambda t: t.replace("check: runbook_linked", "check: runbook_linkd"), "check: runbook_linkd",
         "unknown check type 'runbook_linkd'"),
        (lambda t: t.replace("id: legal-approval", "id: security-approval"), ("id: security-approval", 2),
         "duplicate requirement id (first defined at line"),
        (lambda t: t.replace("params: {min: 1}", "params: {min: one}"), "params: {min: one}",
         "bad parameter min for check decision_record_accepted: 'one' is not of type 'integer'"),
        (lambda t: t.replace("description: Customer traffic.", "description: Customer traffic.\n    inherits: staging"),
         "inherits: staging", "environment production has an inheritance cycle: production -> staging -> production"),
        (lambda t: t.replace("severity: minor", "severity: trivial"), "severity: trivial",
         "schema error at requirements/7/severity"),
    ],
)
def test_lint_names_file_and_line_of_each_problem(tmp_path, mutate, anchor, message):
    text = mutate(DEFAULT_TEXT)
    path = tmp_path / "readiness.yaml"
    path.write_text(text)
    _, err = lint(path)
    needle, nth = anchor if isinstance(anchor, tuple) else (anchor, 1)
    assert f"{path}:{line_of(text, needle, nth)}: " in err, err
    assert message in err, err


def test_lint_reports_every_problem_not_just_the_first(tmp_path):
    text = DEFAULT_TEXT.replace("check: runbook_linked", "check: nope").replace("params: {min: 1}", "params: {min: 0}")
    path = tmp_path / "readiness.yaml"
    path.write_text(text)
    _, err = lint(path)
    lines = [line for line in err.splitlines() if line.startswith(str(path))]
    assert len(lines) == 2, err
    assert "unknown check type 'nope'" in err and "bad parameter min" in err


def test_lint_of_the_shipped_policies_and_the_old_alias(capsys):
    call_command("policy", "lint")
    call_command("policy_lint")
    out = capsys.readouterr().out
    assert out.count("policy 'default' OK") == 2 and out.count("tiering policy 'default-tiering' OK") == 2


def test_the_published_schema_file_is_current_and_checks_parameters(client):
    call_command("policy", "schema", "--check")
    on_disk = json.loads((ROOT / "policies" / "schema" / "readiness.schema.json").read_text())
    assert on_disk == published_schema()
    response = client.get("/api/v1/policy/readiness.schema.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/schema+json"
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(response.json())
    assert not list(validator.iter_errors(yaml.safe_load(DEFAULT_TEXT)))
    bad = yaml.safe_load(DEFAULT_TEXT.replace("params: {min: 1}", "params: {min: one}"))
    assert any("'one' is not of type 'integer'" in e.message for e in validator.iter_errors(bad))


def test_policy_test_passes_on_the_shipped_cases(capsys):
    call_command("policy", "test")
    out = capsys.readouterr().out
    assert "0 failed" in out and "FAIL" not in out


def test_policy_test_fails_with_a_readable_diff(tmp_path):
    # The same cases against a policy where staging no longer excludes the runbook.
    (tmp_path / "readiness.yaml").write_text(DEFAULT_TEXT.replace("exclude: [runbook-linked, decision-record-accepted,",
                                                                  "exclude: [decision-record-accepted,"))
    cases = (ROOT / "policies" / "readiness.tests.yaml").read_text()
    (tmp_path / "readiness.tests.yaml").write_text(cases)
    out = StringIO()
    with pytest.raises(CommandError, match=r"\d+ passed, 1 failed"):
        call_command("policy", "test", str(tmp_path), stdout=out)
    text = out.getvalue()
    assert "FAIL" in text and "staging inherits production minus the runbook" in text
    assert "verdict: expected pass, got block (unmet: runbook-linked)" in text
    assert "runbook-linked: expected absent, got missing (no runbook linked)" in text


def test_policy_test_rejects_an_invalid_test_file(tmp_path):
    (tmp_path / "x.tests.yaml").write_text("apiVersion: clearance/v1\nkind: PolicyTest\npolicy: nope.yaml\ncases: []\n")
    err = StringIO()
    with pytest.raises(CommandError, match="invalid"):
        call_command("policy", "test", str(tmp_path), stderr=err)
    assert "x.tests.yaml:4: schema error at cases" in err.getvalue()


@pytest.mark.django_db
def test_explain_shows_the_trace(request_in_review, capsys):
    call_command("policy", "explain", "support-copilot", "production")
    out = capsys.readouterr().out
    assert "support-copilot / production: BLOCK" in out
    assert "[missing] model-card-published: no published model card" in out
    assert 'decided by: {"check": "approval", "params": {"kind": "security"}' in out
    call_command("policy_explain", "support-copilot", "production", "--format", "json")
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "block" and doc["facts"]["risk_tier"] == request_in_review.system.risk_tier
    with pytest.raises(CommandError, match="unknown environment moon"):
        call_command("policy", "explain", "support-copilot", "moon")


@pytest.mark.django_db
def test_diff_names_systems_that_start_and_stop_passing_and_why(request_in_review, personas, tmp_path, capsys):
    make_ready(request_in_review.system, personas)
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(DEFAULT_TEXT.replace("    exclude: [runbook-linked, decision-record-accepted]\n", "")
                        .replace("params: {max_age_days: 30}", "params: {max_age_days: 1}"))
    call_command("policy", "diff", str(stricter))
    out = capsys.readouterr().out
    assert "support-copilot / production: pass -> block" in out
    assert "evaluation-threshold: met -> stale" in out
    assert "would stop passing" in out
    call_command("policy", "diff", str(POLICY_PATH), "--against", str(stricter), "--format", "json")
    doc = json.loads(capsys.readouterr().out)
    assert {"system": "support-copilot", "environment": "production", "before": "block", "after": "pass",
            "change": "starts passing"}.items() <= doc["changes"][0].items()
    call_command("policy", "diff", str(POLICY_PATH))
    assert "no system would change verdict" in capsys.readouterr().out


# --- the loader: cached by content, reloaded without restart, last good kept -------------------


def test_loader_reloads_a_changed_file_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "readiness.yaml"
    path.write_text(DEFAULT_TEXT)
    loader = CachedLoader(build_policy)
    first = loader.load(path)
    assert loader.load(path) is first and loader.problem(path) is None
    path.write_text(DEFAULT_TEXT.replace("name: default", "name: renamed"))
    second = loader.load(path)
    assert second.name == "renamed" and second.version != first.version
    path.write_text(DEFAULT_TEXT.replace("check: runbook_linked", "check: nope"))
    assert loader.load(path) is second  # the last good policy keeps deciding
    problem = loader.problem(path)
    assert problem is not None and "unknown check type 'nope'" in str(problem)
    os.utime(path, ns=(1, 1))  # touched, same bytes: still cached, still a problem
    assert loader.load(path) is second


def test_loader_with_no_good_version_raises(tmp_path):
    path = tmp_path / "readiness.yaml"
    path.write_text("kind: nonsense\n")
    with pytest.raises(PolicyError):
        CachedLoader(build_policy).load(path)
    with pytest.raises(PolicyError, match="cannot be read"):
        CachedLoader(build_policy).load(tmp_path / "absent.yaml")


def test_a_builder_bug_is_a_policy_that_does_not_load(tmp_path):
    def broken(path, raw):
        raise KeyError("bug")

    path = tmp_path / "readiness.yaml"
    path.write_text(DEFAULT_TEXT)
    with pytest.raises(PolicyError, match="could not be built"):
        CachedLoader(broken).load(path)


@pytest.fixture
def own_policy(settings, tmp_path):
    settings.POLICY_DIR = tmp_path
    policy_loader._loader.clear()
    path = tmp_path / "readiness.yaml"
    path.write_text(DEFAULT_TEXT)
    (tmp_path / "tiering.yaml").write_text((ROOT / "policies" / "tiering.yaml").read_text())
    (tmp_path / "reviews.yaml").write_text((ROOT / "policies" / "reviews.yaml").read_text())
    yield path
    policy_loader._loader.clear()


def post_gate(client, token, body):
    response = client.post("/api/v1/gate/checks", data=json.dumps(body), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json()


@pytest.mark.django_db
def test_a_bad_policy_file_keeps_the_last_good_policy_loudly(client, request_in_review, personas, own_policy, caplog):
    make_ready(request_in_review.system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    body = {"system": "support-copilot", "environment": "production"}
    status, good = post_gate(client, token, body)
    assert status == 200 and good["verdict"] == "pass" and good["warnings"] == []
    own_policy.write_text(DEFAULT_TEXT.replace("check: runbook_linked", "check: nope"))
    status, answer = post_gate(client, token, body)
    assert status == 200 and answer["verdict"] == "pass"
    assert answer["policy"]["version"] == good["policy"]["version"]
    assert "does not load" in answer["warnings"][0] and "unknown check type 'nope'" in answer["warnings"][0]
    assert "POLICY DOES NOT LOAD" in caplog.text
    client.force_login(personas["owner"])
    page = client.get("/systems/support-copilot/").content.decode()
    assert 'id="policy-problem"' in page and "keeps serving the last good policy" in page
    own_policy.write_text(DEFAULT_TEXT)
    assert 'id="policy-problem"' not in client.get("/systems/support-copilot/").content.decode()


@pytest.mark.django_db
def test_no_good_policy_at_all_blocks_and_says_so(client, request_in_review, personas, own_policy):
    make_ready(request_in_review.system, personas)
    # No good policy at all: no version was ever activated, and the file on disk does not load.
    PolicyActivation.objects.all().delete()
    own_policy.write_text(DEFAULT_TEXT.replace("check: runbook_linked", "check: nope"))
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    status, answer = post_gate(client, token, {"system": "support-copilot", "environment": "production"})
    assert status == 200 and answer["verdict"] == "block"
    assert answer["requirements"][0]["id"] == "policy-loaded" and "unknown check type" in answer["requirements"][0]["message"]
    client.force_login(personas["owner"])
    assert "every deployment gate blocks" in client.get("/systems/support-copilot/").content.decode()


@pytest.mark.django_db
def test_facts_that_cannot_be_read_block(client, request_in_review, personas, monkeypatch):
    make_ready(request_in_review.system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def unreadable(system):
        raise OSError("disk gone")

    monkeypatch.setattr("governance.services.gate.collect_facts", unreadable)
    monkeypatch.setattr("governance.services.readiness.collect_facts", unreadable)
    status, answer = post_gate(client, token, {"system": "support-copilot", "environment": "production"})
    assert status == 200 and answer["verdict"] == "block"
    assert answer["requirements"] == [{**answer["requirements"][0], "id": "facts-readable", "status": "failed"}]
    assert "disk gone" in answer["requirements"][0]["message"]


@pytest.mark.django_db
def test_an_evaluation_that_raises_blocks(client, request_in_review, personas, monkeypatch):
    make_ready(request_in_review.system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug in the engine")

    monkeypatch.setattr("governance.services.gate.evaluate", broken)
    monkeypatch.setattr("governance.services.readiness.evaluate", broken)
    status, answer = post_gate(client, token, {"system": "support-copilot", "environment": "production"})
    assert status == 200 and answer["verdict"] == "block"
    assert answer["requirements"][0]["id"] == "evaluation-complete"


def test_a_stale_facts_snapshot_blocks():
    policy = build_policy(POLICY_PATH, POLICY_PATH.read_bytes())
    fresh = evaluate(policy, "production", dataclasses.replace(ready_facts(), collected_at=NOW), NOW)
    assert fresh.verdict == "pass"
    from datetime import timedelta

    old = dataclasses.replace(ready_facts(), collected_at=NOW - timedelta(hours=1))
    stale = evaluate(policy, "production", old, NOW)
    assert stale.verdict == "block"
    assert stale.requirements[0].id == "facts-fresh" and stale.requirements[0].status == "stale"
