"""The gate contract (DESIGN.md) over HTTP, and the CLI against a live server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from clearance.tokens import api_token_create
from governance.models import GateCheck, PolicyActivation
from tests.conftest import make_ready

CLIENT = Path(__file__).resolve().parents[2] / "clearance" / "gate_client.py"
REQUIREMENT_KEYS = {"id", "title", "status", "message", "fix", "evidence", "since", "fix_url"}


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def gate_token(personas):
    return api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext


def post_gate(client: Client, token: str | None, body: object) -> tuple[int, dict]:
    headers = bearer(token) if token else {}
    response = client.post("/api/v1/gate/checks", data=json.dumps(body), content_type="application/json", **headers)
    return response.status_code, response.json()


@pytest.mark.django_db
def test_block_then_pass_with_the_exact_contract(client, request_in_review, personas, gate_token, django_assert_max_num_queries):
    status, body = post_gate(client, gate_token, {"system": "support-copilot", "environment": "production",
                                                  "commit": "abc123", "pipeline_url": "https://ci.example.com/1"})
    assert status == 200
    assert set(body) == {"id", "verdict", "system", "environment", "policy", "checked_at", "requirements", "url",
                         "warnings"}
    assert body["warnings"] == []
    assert body["verdict"] == "block"
    assert set(body["policy"]) == {"name", "version"} and len(body["policy"]["version"]) == 64
    assert all(set(r) == REQUIREMENT_KEYS for r in body["requirements"])
    unmet = {r["id"]: r for r in body["requirements"] if r["status"] != "met"}
    assert {"model-card-published", "security-approval", "evaluation-threshold"} <= set(unmet)
    assert all(r["fix"] and r["fix_url"].startswith("http://testserver/systems/support-copilot/")
               and r["since"] for r in unmet.values())
    assert unmet["model-card-published"]["fix_url"].endswith("/systems/support-copilot/model-card/")
    assert body["url"].endswith("/systems/support-copilot/#env-production")
    check = GateCheck.objects.get(pk=body["id"])
    assert (check.commit, check.verdict, check.user, check.token.name) == ("abc123", "block", personas["owner"], "ci")

    make_ready(request_in_review.system, personas)
    # The facts changed and no recompute has run yet: the gate computes (and stores) the pass itself.
    status, body = post_gate(client, gate_token, {"system": "support-copilot", "environment": "production"})
    assert status == 200 and body["verdict"] == "pass", [r for r in body["requirements"] if r["status"] != "met"]
    # Then it reads it: token (cached in process), verdict and record, plus SET LOCAL on PostgreSQL.
    with django_assert_max_num_queries(3):
        status, again = post_gate(client, gate_token, {"system": "support-copilot", "environment": "production"})
    assert status == 200 and again["verdict"] == "pass"
    assert [(r["id"], r["status"]) for r in again["requirements"]] == [(r["id"], r["status"]) for r in body["requirements"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"system": "nope", "environment": "production"}, 404, "unknown_system", "system"),
        ({"system": "support-copilot", "environment": "moon"}, 404, "unknown_environment", "environment"),
        ({"environment": "production"}, 400, "invalid", "system"),
        ({"system": "support-copilot", "environment": "production", "pipeline_url": "not a url"}, 400, "invalid", "pipeline_url"),
        ({"system": "support-copilot", "environment": "production", "extra": 1}, 400, "invalid", "extra"),
        (["support-copilot"], 400, "parse_error", None),
    ],
)
def test_bad_requests_answer_a_json_error_naming_the_field(client, request_in_review, gate_token, body, status, code, field):
    got_status, got = post_gate(client, gate_token, body)
    assert got_status == status
    assert got["error"]["code"] == code and got["error"]["message"]
    if field:
        assert field in got["error"]["fields"]
    assert not GateCheck.objects.exists()


@pytest.mark.django_db
def test_tokens_missing_bad_revoked_or_underscoped(client, request_in_review, personas):
    body = {"system": "support-copilot", "environment": "production"}
    status, got = post_gate(client, None, body)
    assert status == 401 and got["error"]["code"] == "not_authenticated"
    status, got = post_gate(client, "clr_000000000000_notreal", body)
    assert status == 401 and got["error"]["code"] == "authentication_failed"
    read_only = api_token_create(user=personas["owner"], name="ro", scopes=["read"]).plaintext
    status, got = post_gate(client, read_only, body)
    assert status == 403 and "gate:check" in got["error"]["message"]
    issued = api_token_create(user=personas["owner"], name="gone", scopes=["gate:check"])
    from clearance.tokens import api_token_revoke

    api_token_revoke(token=issued.token, actor=personas["owner"])
    assert post_gate(client, issued.plaintext, body)[0] == 401


@pytest.mark.django_db
def test_a_system_the_token_user_cannot_see_is_unknown(client, request_in_review, personas):
    token = api_token_create(user=personas["outsider"], name="x", scopes=["gate:check"]).plaintext
    status, got = post_gate(client, token, {"system": "support-copilot", "environment": "production"})
    assert status == 404 and got["error"]["code"] == "unknown_system"


@pytest.mark.django_db
def test_a_broken_policy_blocks_every_gate_with_the_reason(client, request_in_review, personas, gate_token, settings, tmp_path):
    make_ready(request_in_review.system, personas)
    (tmp_path / "readiness.yaml").write_text("apiVersion: clearance/v1\nkind: ReadinessPolicy\n")
    settings.POLICY_DIR = tmp_path
    # A broken file changes nothing while a good version is active; with none active, it blocks.
    PolicyActivation.objects.all().delete()
    status, body = post_gate(client, gate_token, {"system": "support-copilot", "environment": "production"})
    assert status == 200 and body["verdict"] == "block"
    assert body["requirements"][0]["id"] == "policy-loaded"
    assert "schema error" in body["requirements"][0]["message"]


@pytest.mark.django_db
def test_client_file_is_downloadable(client):
    response = client.get("/api/v1/gate/client.py")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CLIENT.read_bytes()


def run_cli(url: str, token: str, system: str, *extra: str) -> subprocess.CompletedProcess[str]:
    # -S -I: no site-packages, so the file proves it needs nothing but the standard library.
    return subprocess.run(
        [sys.executable, "-S", "-I", str(CLIENT), "--url", url, "--token", token, "--system", system,
         "--environment", "production", "--timeout", "5", "--retries", "0", *extra],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_cli_exit_codes_against_a_live_server(live_server, request_in_review, personas, gate_token, tmp_path):
    blocked = run_cli(live_server.url, gate_token, "support-copilot")
    assert blocked.returncode == 1, blocked.stderr
    assert "BLOCK" in blocked.stdout and "security-approval" in blocked.stdout and "fix:" in blocked.stdout

    make_ready(request_in_review.system, personas)
    out = tmp_path / "verdict.json"
    passed = run_cli(live_server.url, gate_token, "support-copilot", "--format", "json", "--output", str(out))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads(out.read_text())["verdict"] == "pass"

    unknown = run_cli(live_server.url, gate_token, "no-such-system")
    assert unknown.returncode == 2 and "unknown_system" in unknown.stderr
    bad_token = run_cli(live_server.url, "clr_0123456789ab_wrong", "support-copilot")
    assert bad_token.returncode == 2 and "401" in bad_token.stderr
    nobody_home = run_cli(f"http://127.0.0.1:{free_port()}", gate_token, "support-copilot")
    assert nobody_home.returncode == 2
    assert GateCheck.objects.filter(system__slug="support-copilot").count() == 2
