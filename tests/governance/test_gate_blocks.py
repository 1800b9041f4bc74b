"""The gate blocks what it should: a retired system everywhere (no waiver lifts it), and an
environment where nothing applies unless the policy says allow_empty; lint refuses empty policies."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from catalog.services.systems import system_move_lifecycle
from clearance.errors import DomainError
from clearance.tokens import api_token_create
from governance.policy.engine import evaluate
from governance.policy.loader import build_policy
from governance.services.readiness import readiness_recompute
from governance.services.waivers import waiver_request
from tests.conftest import make_ready
from tests.governance.test_policy_engine import NOW, ready_facts

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEXT = (ROOT / "policies" / "readiness.yaml").read_text()


def gate(client, token, environment):
    response = client.post("/api/v1/gate/checks", content_type="application/json",
                           data=json.dumps({"system": "support-copilot", "environment": environment}),
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_a_retired_system_is_blocked_in_every_environment_with_what_to_do(client, request_in_review, personas):
    system = request_in_review.system
    make_ready(system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    assert gate(client, token, "production")["verdict"] == "pass"

    system_move_lifecycle(actor=personas["lead"], system=system, to="retired")
    for environment in ("production", "staging", "development"):
        answer = gate(client, token, environment)
        assert answer["verdict"] == "block", environment
        unmet = [r for r in answer["requirements"] if r["status"] != "met"]
        assert [r["id"] for r in unmet] == ["system-not-retired"]
        assert unmet[0]["message"] == "system is retired"
        assert "remove this deploy from the pipeline" in unmet[0]["fix"] and unmet[0]["fix_url"]

    with pytest.raises(DomainError, match="does not allow waiving system-not-retired"):
        waiver_request(actor=personas["owner"], system=system, requirement="system-not-retired",
                       justification="one last deploy before the switch-off", expires_at=timezone.now() + timedelta(days=3))
    readiness_recompute(system_id=system.pk, reason="test")
    stored = {v.environment: v.verdict for v in system.verdicts.all()}
    assert stored == {"production": "block", "staging": "block", "development": "block"}


def lint_errors(tmp_path: Path, text: str) -> str:
    path = tmp_path / "readiness.yaml"
    path.write_text(text)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("policy", "lint", str(path), stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_lint_rejects_an_empty_requirements_list_and_an_environment_with_none(tmp_path):
    head = DEFAULT_TEXT[:DEFAULT_TEXT.index("requirements:")]
    assert "schema error at requirements: [] should be non-empty" in lint_errors(tmp_path, head + "requirements: []\n")

    sandbox = DEFAULT_TEXT.replace("  development:\n", "  sandbox:\n    description: Nothing here.\n  development:\n")
    errors = lint_errors(tmp_path, sandbox)
    assert "environment sandbox has no requirement, so every gate there would block" in errors
    assert "allow_empty: true" in errors

    allowed = sandbox.replace("    description: Nothing here.\n", "    description: Nothing here.\n    allow_empty: true\n")
    path = tmp_path / "allowed.yaml"
    path.write_text(allowed)
    call_command("policy", "lint", str(path), stdout=StringIO())
    policy = build_policy(path, path.read_bytes())
    assert evaluate(policy, "sandbox", ready_facts(), NOW).verdict == "pass"


def test_an_environment_where_nothing_applies_to_the_system_blocks_unless_it_allows_empty(tmp_path):
    # Development asks only for owners, and only of high-risk systems here: a minimal one meets nothing.
    text = DEFAULT_TEXT.replace("    params: {roles: [business, technical, risk]}\n    environments: [production, development]\n",
                                "    params: {roles: [business, technical, risk]}\n    environments: [production, development]\n"
                                "    tiers: [high]\n")
    path = tmp_path / "readiness.yaml"
    path.write_text(text)
    policy = build_policy(path, path.read_bytes())
    result = evaluate(policy, "development", ready_facts(risk_tier="minimal"), NOW)
    assert result.verdict == "block"
    assert [(r.id, r.status) for r in result.requirements] == [("requirements-apply", "failed")]
    assert "no requirement of policy default applies to this system in development" in result.requirements[0].message
    assert "allow_empty: true" in result.requirements[0].fix

    path.write_text(text.replace("description: Engineers' sandboxes; only ownership is required.",
                                 "description: Engineers' sandboxes.\n    allow_empty: true"))
    allowed = build_policy(path, path.read_bytes())
    assert evaluate(allowed, "development", ready_facts(risk_tier="minimal"), NOW).verdict == "pass"
