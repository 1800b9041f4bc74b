"""Offline tests for clearance/gate_client.py (the `clearance-check` CI client).

The client is run exactly as CI runs it: a standalone file under `python -S -I`, against small
stdlib HTTP servers started here. No Django, no database.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "clearance" / "gate_client.py"
TOKEN = "tok_s3cret-value-123"
FAST = ["--timeout", "2", "--backoff", "0.01"]
# Keep the host's CI environment (GitHub/GitLab variables, proxies) out of the child process.
SCRUBBED_PREFIXES = ("CLEARANCE_", "GITHUB_", "CI_", "RUNNER_")
SCRUBBED = {"ci", "http_proxy", "https_proxy", "all_proxy", "no_proxy"}

POLICY_VERSION = "3f9c2a7b1d4e5f60718293a4b5c6d7e8"
PASS_DOC: dict[str, Any] = {
    "id": "chk_01",
    "verdict": "pass",
    "system": "support-copilot",
    "environment": "production",
    "policy": {"name": "default", "version": POLICY_VERSION},
    "checked_at": "2025-05-01T12:00:00Z",
    "requirements": [
        {"id": "risk-assessment", "title": "Risk assessment", "status": "met",
         "message": "Approved on 2025-04-30", "fix": None, "evidence": []},
        {"id": "dpia", "title": "DPIA", "status": "not_applicable", "message": "No personal data",
         "fix": "", "evidence": []},
    ],
    "url": "https://clearance.example.com/systems/support-copilot/readiness",
}
BLOCK_DOC: dict[str, Any] = {
    **PASS_DOC,
    "id": "chk_02",
    "verdict": "block",
    "requirements": [
        PASS_DOC["requirements"][0],
        {"id": "model-card", "title": "Model card", "status": "missing",
         "message": "No model card uploaded", "fix": "Upload a model card on the evidence tab",
         "evidence": []},
        {"id": "red-team", "title": "Red-team review", "status": "stale",
         "message": "Review older than 90 days", "fix": "Re-run the red-team review", "evidence": []},
    ],
}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes -> raw
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class GateServer:
    """Answers with `replies` in order (the last one repeats) and records every request."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies, self.requests = replies, []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                state.requests.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                reply = state.replies[min(len(state.requests), len(state.replies)) - 1]
                time.sleep(reply.delay)
                raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the client gave up (timeout test)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gate() -> Iterator[Callable[..., GateServer]]:
    servers: list[GateServer] = []

    def start(*replies: Reply) -> GateServer:
        servers.append(GateServer(list(replies)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(SCRUBBED_PREFIXES) and k.lower() not in SCRUBBED}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-S", "-I", str(CLIENT), *args],
        env=child_env, capture_output=True, text=True, encoding="utf-8", timeout=30,
    )


def check(server: GateServer, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("--url", server.url, "--token", TOKEN, "--system", "support-copilot",
               "--environment", "production", *FAST, *extra, env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _imported(found: Any) -> set[str]:
    nodes = list(found)
    modules = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    return modules | {node.module.split(".")[0] for node in nodes
                      if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}


def test_client_imports_only_the_standard_library() -> None:
    tree = ast.parse(CLIENT.read_text(encoding="utf-8"))
    assert _imported(tree.body) and _imported(tree.body) <= set(sys.stdlib_module_names)
    # The one exception: `verify` imports cryptography when it runs, and only there.
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    outside = {name: _imported(ast.walk(node)) - set(sys.stdlib_module_names) for name, node in functions.items()}
    assert {name: extra for name, extra in outside.items() if extra} == {
        "verify_envelope": {"cryptography"}, "verify_main": {"cryptography"}}


def test_pass_exits_0_and_sends_the_contract_request(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(body=PASS_DOC))
    result = check(server, "--deploy-version", "1.4.2", "--commit", "abc123",
                   "--pipeline-url", "https://ci.example.com/runs/7")
    assert result.returncode == 0, result.stderr
    assert f"Clearance gate: PASS  system=support-copilot environment=production " \
           f"policy=default@{POLICY_VERSION[:12]}" in result.stdout
    assert "[met]" in result.stdout and "risk-assessment" in result.stdout
    assert PASS_DOC["url"] in result.stdout
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/api/v1/gate/checks")
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["User-Agent"].startswith("clearance-check/")
    assert seen.json() == {"system": "support-copilot", "environment": "production", "version": "1.4.2",
                           "commit": "abc123", "pipeline_url": "https://ci.example.com/runs/7"}
    assert TOKEN not in result.stdout + result.stderr


def test_optional_body_keys_are_omitted(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(body=PASS_DOC))
    assert check(server).returncode == 0
    assert server.requests[0].json() == {"system": "support-copilot", "environment": "production"}


def test_defaults_come_from_the_environment(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(body=PASS_DOC))
    env = {"CLEARANCE_URL": server.url + "/", "CLEARANCE_TOKEN": TOKEN, "CLEARANCE_DEPLOY_VERSION": "2.0",
           "GITHUB_SHA": "deadbeef", "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_REPOSITORY": "acme/copilot", "GITHUB_RUN_ID": "42"}
    result = run("--system", "support-copilot", "--environment", "staging", *FAST, env=env)
    assert result.returncode == 0, result.stderr
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert server.requests[0].json() == {
        "system": "support-copilot", "environment": "staging", "version": "2.0", "commit": "deadbeef",
        "pipeline_url": "https://github.com/acme/copilot/actions/runs/42"}


def test_gitlab_defaults(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(body=PASS_DOC))
    env = {"CI_COMMIT_SHA": "cafe01", "CI_PIPELINE_URL": "https://gitlab.example.com/p/-/pipelines/9"}
    assert check(server, env=env).returncode == 0
    body = server.requests[0].json()
    assert (body["commit"], body["pipeline_url"]) == ("cafe01", "https://gitlab.example.com/p/-/pipelines/9")


def test_block_exits_1_with_reasons_and_fixes(gate: Callable[..., GateServer]) -> None:
    result = check(gate(Reply(body=BLOCK_DOC)))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "Clearance gate: BLOCK  system=support-copilot environment=production" in out
    assert "[MISSING]" in out and "model-card" in out and "No model card uploaded" in out
    assert "fix: Upload a model card on the evidence tab" in out
    assert "[STALE]" in out and "fix: Re-run the red-team review" in out
    assert "1 of 3 requirements satisfied" in out
    assert BLOCK_DOC["url"] in out
    assert TOKEN not in out + result.stderr


@pytest.mark.parametrize(("status", "code", "message"), [
    (400, "invalid_body", "environment: This field is required."),
    (401, "invalid_token", "Authentication credentials were not provided."),
    (403, "insufficient_scope", "Token is not scoped to system support-copilot."),
    (404, "unknown_system", "No system with slug 'support-copilot'."),
])
def test_client_errors_exit_2_with_the_server_message(
        gate: Callable[..., GateServer], status: int, code: str, message: str) -> None:
    body = {"error": {"code": code, "message": message, "fields": {"environment": ["Unknown."]}}}
    server = gate(Reply(status=status, body=body))
    result = check(server, "--retries", "3")
    assert result.returncode == 2
    assert "clearance-check: error:" in result.stderr
    assert f"HTTP {status}" in result.stderr and message in result.stderr and code in result.stderr
    assert "environment: Unknown." in result.stderr
    assert len(server.requests) == 1  # 4xx other than 429 is never retried
    assert TOKEN not in result.stdout + result.stderr


def test_server_error_exits_2_without_retry(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(status=500, body=b"<html>Internal Server Error</html>",
                        headers={"Content-Type": "text/html"}))
    result = check(server, "--retries", "3")
    assert result.returncode == 2
    assert "HTTP 500" in result.stderr and "Internal Server Error" in result.stderr
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [
    b"<html>hello from a captive portal</html>",
    b"",
    b"\xff\xfe not utf-8",
])
def test_non_json_200_exits_2(gate: Callable[..., GateServer], body: bytes) -> None:
    result = check(gate(Reply(body=body, headers={"Content-Type": "text/html"})))
    assert result.returncode == 2
    assert "not JSON" in result.stderr


@pytest.mark.parametrize("doc", [
    {k: v for k, v in PASS_DOC.items() if k != "verdict"},
    {**PASS_DOC, "verdict": "PASS"},
    {**PASS_DOC, "verdict": "passed"},
    {**PASS_DOC, "verdict": None},
    {**PASS_DOC, "verdict": ["pass"]},
    {**PASS_DOC, "requirements": "all good"},
    {k: v for k, v in PASS_DOC.items() if k != "requirements"},
    ["pass"],
    "pass",
])
def test_malformed_200_never_exits_0(gate: Callable[..., GateServer], doc: Any) -> None:
    result = check(gate(Reply(body=doc)))
    assert result.returncode == 2
    assert "malformed gate response" in result.stderr


def test_other_2xx_status_is_an_error(gate: Callable[..., GateServer]) -> None:
    result = check(gate(Reply(status=201, body=PASS_DOC)))
    assert result.returncode == 2
    assert "HTTP 201" in result.stderr


def test_redirect_is_not_followed(gate: Callable[..., GateServer]) -> None:
    target = gate(Reply(body=PASS_DOC))
    server = gate(Reply(status=302, body=b"", headers={"Location": target.url + "/api/v1/gate/checks"}))
    result = check(server)
    assert result.returncode == 2
    assert "HTTP 302" in result.stderr and "redirected to" in result.stderr
    assert target.requests == []  # the token never leaves for another address


def test_connection_refused_exits_2() -> None:
    result = run("--url", f"http://127.0.0.1:{free_port()}", "--token", TOKEN, "--system", "s",
                 "--environment", "e", *FAST, "--retries", "1")
    assert result.returncode == 2
    assert "cannot reach" in result.stderr and "gave up after 2 attempts" in result.stderr
    assert "retrying in" in result.stderr


def test_timeout_exits_2(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(body=PASS_DOC, delay=1.0))
    started = time.monotonic()
    result = check(server, "--timeout", "0.2", "--retries", "0")
    assert result.returncode == 2
    assert "within 0.2s" in result.stderr
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("transient", [503, 502, 504, 429])
def test_transient_errors_are_retried(gate: Callable[..., GateServer], transient: int) -> None:
    busy = Reply(status=transient, body={"error": {"code": "busy", "message": "try again"}})
    server = gate(busy, busy, Reply(body=PASS_DOC))
    result = check(server, "--retries", "3")
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == 3
    assert result.stderr.count("retrying in") == 2


def test_retries_exhausted_exits_2(gate: Callable[..., GateServer]) -> None:
    server = gate(Reply(status=503, body={"error": {"code": "unavailable", "message": "maintenance"}}))
    result = check(server, "--retries", "1")
    assert result.returncode == 2
    assert len(server.requests) == 2
    assert "HTTP 503" in result.stderr and "maintenance" in result.stderr


@pytest.mark.parametrize(("doc", "expected"), [(PASS_DOC, 0), (BLOCK_DOC, 1)])
def test_json_report_written_to_output(
        gate: Callable[..., GateServer], tmp_path: Path, doc: dict[str, Any], expected: int) -> None:
    out = tmp_path / "report.json"
    result = check(gate(Reply(body=doc)), "--format", "json", "--output", str(out))
    assert result.returncode == expected
    assert json.loads(out.read_text(encoding="utf-8")) == {**doc, "exit_code": expected}
    assert "Clearance gate:" in result.stdout  # text summary still on stdout


def test_json_report_on_stdout(gate: Callable[..., GateServer]) -> None:
    result = check(gate(Reply(body=BLOCK_DOC)), "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {**BLOCK_DOC, "exit_code": 1}


def test_json_report_for_errors(gate: Callable[..., GateServer], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    body = {"error": {"code": "unknown_environment", "message": "No environment 'prod'."}}
    result = check(gate(Reply(status=404, body=body)), "--format", "json", "--output", str(out))
    assert result.returncode == 2
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["exit_code"] == 2 and report["http_status"] == 404
    assert report["error"]["code"] == "unknown_environment"


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--token", TOKEN], {}, "no gate URL"),
    (["--url", "http://127.0.0.1:9"], {}, "no gate token"),
    (["--url", "ftp://example.com", "--token", TOKEN], {}, "--url must be an http(s) URL"),
])
def test_missing_or_bad_settings_exit_2(args: list[str], env: dict[str, str], message: str) -> None:
    result = run(*args, "--system", "s", "--environment", "e", env=env)
    assert result.returncode == 2
    assert f"clearance-check: error: {message}" in result.stderr


@pytest.mark.parametrize("args", [
    ["--environment", "e"],
    ["--system", "s", "--environment", "e", "--format", "xml"],
    ["--system", "s", "--environment", "e", "--timeout", "0"],
    ["--system", "s", "--environment", "e", "--retries", "-1"],
])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    assert run(*args).returncode == 2


def test_version_flag() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("clearance-check ")


def test_github_actions_annotations_and_step_summary(
        gate: Callable[..., GateServer], tmp_path: Path) -> None:
    doc = {**BLOCK_DOC, "requirements": [
        *BLOCK_DOC["requirements"],
        {"id": "eval:accuracy,v2", "title": "Eval", "status": "failed",
         "message": "Accuracy 71% < 80%\nsee report", "fix": "Improve | retrain", "evidence": []},
    ]}
    summary = tmp_path / "summary.md"
    summary.write_text("existing\n", encoding="utf-8")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = check(gate(Reply(body=doc)), env=env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "::error title=model-card::No model card uploaded — fix: Upload a model card on the evidence tab" \
        in lines
    assert "::error title=red-team::Review older than 90 days — fix: Re-run the red-team review" in lines
    assert "::error title=eval%3Aaccuracy%2Cv2::Accuracy 71%25 < 80%25%0Asee report — fix: Improve | retrain" \
        in lines
    assert not any(line.startswith("::error title=risk-assessment") for line in lines)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("existing\n")
    assert "Clearance gate: BLOCK" in text
    assert "| Status | Requirement | Details | Fix |" in text
    assert "Improve \\| retrain" in text and "71% < 80%<br>see report" in text
    assert BLOCK_DOC["url"] in text


def test_no_annotations_outside_github_actions(gate: Callable[..., GateServer]) -> None:
    result = check(gate(Reply(body=BLOCK_DOC)))
    assert "::error" not in result.stdout
