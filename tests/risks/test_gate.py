"""The gate answers with risks_treated from an activated policy: which risk, why, and where to fix it."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from clearance.tokens import api_token_create
from governance.policy import loader as policy_loader
from governance.selectors import policy as active
from risks.services import risk_accept, risk_create
from tests.risks.risk_helpers import risk_input
from tests.risks.test_risks_treated import POLICY

ROOT = Path(__file__).resolve().parents[2]
# Policy tests for the risks-only policy: the risk register facts as plain data.
POLICY_TESTS = """
apiVersion: clearance/v1
kind: PolicyTest
policy: readiness.yaml
now: 2026-06-01T12:00:00+00:00
defaults:
  facts: {slug: s, risk_tier: high, risk_appetite: 6}
cases:
  - name: an empty register passes
    environment: production
    facts: {}
    expect: {verdict: pass, requirements: {risks-treated: met}}
  - name: a treated risk above the appetite without an acceptance blocks
    environment: production
    facts: {risks: [{id: 1, score: 16, residual_score: 9, treatment: mitigate}]}
    expect: {verdict: block, requirements: {risks-treated: failed}}
  - name: an accepted one passes until the acceptance expires
    environment: production
    facts: {risks: [{id: 1, score: 16, residual_score: 9, treatment: mitigate,
                     accepted_until: 2026-07-01T00:00:00+00:00, accepted_by: rita}]}
    expect: {verdict: pass, requirements: {risks-treated: met}}
  - name: a snapshot without the register fails closed
    environment: production
    facts: {risk_appetite: null}
    expect: {verdict: block, requirements: {risks-treated: missing}}
"""


@pytest.fixture(autouse=True)
def _fresh_caches() -> Any:
    policy_loader._loader.clear()
    active.clear_cache()
    yield
    policy_loader._loader.clear()
    active.clear_cache()


def test_gate_blocks_an_unaccepted_risk_with_a_fix_link_then_passes(
    client: Any, personas: dict[str, Any], risky_system: Any, tmp_path: Path, settings: Any
) -> None:
    (tmp_path / "readiness.yaml").write_bytes(POLICY)
    (tmp_path / "readiness.tests.yaml").write_text(POLICY_TESTS)
    for name in ("tiering.yaml", "reviews.yaml"):
        (tmp_path / name).write_text((ROOT / "policies" / name).read_text())
    settings.POLICY_DIR = tmp_path
    call_command("policy", "activate", str(tmp_path / "readiness.yaml"), stdout=StringIO(), stderr=StringIO())
    owner = personas["owner"]
    risk = risk_create(
        actor=owner,
        systems=[risky_system],
        data=risk_input(
            owner,
            treatment="transfer",
            treatment_rationale="Insurer covers wrongful denials",
            residual_likelihood=3,
            residual_impact=3,
        ),
    )
    token = api_token_create(user=owner, name="ci", scopes=["gate:check"]).plaintext

    def gate() -> dict[str, Any]:
        response = client.post(
            "/api/v1/gate/checks",
            content_type="application/json",
            data=json.dumps({"system": risky_system.slug, "environment": "production"}),
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body

    body = gate()
    req = body["requirements"][0]
    assert body["verdict"] == "block" and req["id"] == "risks-treated" and req["status"] == "failed"
    assert f"risk {risk.pk}" in req["message"] and "residual score of 9 (appetite 6)" in req["message"]
    assert req["fix_url"].endswith(f"/systems/{risky_system.slug}/risks/")
    risk_accept(
        actor=personas["risk"],
        risk=risk,
        system=risky_system,
        rationale="Covered by the claims insurer",
        expires_at=timezone.now() + timedelta(days=30),
    )
    assert gate()["verdict"] == "pass"
