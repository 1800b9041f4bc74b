from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=timeout)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG"}
           and not k.startswith(("AUDIT_", "GATE_SIGNING", "GATE_PUBLIC"))}
    return {**env, "CLEARANCE_VAR_DIR": str(tmp_path / "var"), **extra}


PRODUCTION_AUDIT_KEYS = {
    "AUDIT_KEY": "a-long-random-audit-hmac-secret-kept-out-of-the-database",
    "AUDIT_KEY_ID": "2026a",
    # A fixed test key (32 bytes, base64), made by `manage.py audit_checkpoint --generate-key`.
    "AUDIT_CHECKPOINT_KEY": "f3q8Uq8W3+o6b2+H0d1pL6b3m6vJc5k9m0mYt9q2x0A=",
    # A fixed test key for gate attestations, made by `manage.py gate_keys --generate`.
    "GATE_SIGNING_KEY": "6Jq5OaucwmZri95+jb3wb8JPskp/5q99cr8YasZ4QNc=",
}


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = clean_env(
        tmp_path,
        **PRODUCTION_AUDIT_KEYS,
        SECRET_KEY="k" * 20 + "-production-secret-with-enough-entropy-" + "x9Q2!" * 4,
        DATABASE_URL="postgres://clearance@127.0.0.1:5432/clearance",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        ALLOWED_HOSTS="clearance.example.com",
        HTTPS="true",
        TOKEN_PEPPER="another-long-server-side-secret",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_audit_keys_derived_from_secret_key(tmp_path):
    env = clean_env(
        tmp_path,
        SECRET_KEY="k" * 20 + "-production-secret-with-enough-entropy-" + "x9Q2!" * 4,
        ALLOWED_HOSTS="clearance.example.com", HTTPS="true", TOKEN_PEPPER="another-long-server-side-secret",
    )
    result = manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "clearance.E001" in result.stderr and "AUDIT_KEY is not set" in result.stderr
    assert "clearance.E002" in result.stderr and "AUDIT_CHECKPOINT_KEY is not set" in result.stderr
    assert "clearance.E003" in result.stderr and "GATE_SIGNING_KEY is not set" in result.stderr


@pytest.mark.parametrize(("extra", "message"), [
    ({"AUDIT_KEY": "short"}, "AUDIT_KEY: the secret of key 'k1' must be at least 32 characters"),
    ({"AUDIT_KEYS": "k1=" + "s" * 40}, "AUDIT_KEY_ID must name the key of AUDIT_KEYS"),
    ({"AUDIT_KEYS": "k1=" + "s" * 40, "AUDIT_KEY_ID": "k2"}, "AUDIT_KEY_ID 'k2' is not one of the ids in AUDIT_KEYS"),
    ({"AUDIT_KEY": "s" * 40, "AUDIT_KEY_ID": "bad id!"}, "AUDIT_KEY_ID: key id 'bad id!' must be"),
    ({"AUDIT_CHECKPOINT_KEY": "not base64!"}, "AUDIT_CHECKPOINT_KEY is not valid base64"),
    ({"AUDIT_CHECKPOINT_KEY": "c2hvcnQ="}, "AUDIT_CHECKPOINT_KEY must be 32 bytes"),
    ({"GATE_SIGNING_KEY": "c2hvcnQ="}, "GATE_SIGNING_KEY must be 32 bytes"),
    ({"GATE_SIGNING_KEY_FILE": "/nonexistent/gate.key"}, "GATE_SIGNING_KEY_FILE: cannot read"),
    ({"GATE_PUBLIC_KEYS": "c2hvcnQ="}, "GATE_PUBLIC_KEYS: each key must be 32 bytes"),
])
def test_a_bad_audit_key_is_named_at_start_up(tmp_path, extra, message):
    result = manage("check", env=clean_env(tmp_path, **extra))
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]


def test_a_bad_setting_is_named_at_start_up(tmp_path):
    result = manage("check", env=clean_env(tmp_path, HTTPS="perhaps"))
    assert result.returncode != 0 and "HTTPS must be a boolean" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.celery_worker
def test_demo_runs_stops_on_ctrl_c_and_reuses_its_database(tmp_path):
    env = clean_env(tmp_path)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port)], cwd=BASE_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output.append(line)
            if "Clearance is running" in line:
                break
        text = "".join(output)
        assert "Clearance is running" in text, text
        assert "lead" in text and "clearance-demo" in text and "clearance-check --url" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as response:
            assert response.status == 200
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)

    again = manage("demo", "--port", str(free_port()), "--exit-when-ready", env=env, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already present: reusing it" in again.stdout


def test_a_broken_policy_fails_the_start_up_check(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "readiness.yaml").write_text("apiVersion: clearance/v1\nkind: ReadinessPolicy\nname: x\n")
    (policies / "tiering.yaml").write_text((BASE_DIR / "policies" / "tiering.yaml").read_text())
    result = manage("check", env=clean_env(tmp_path, POLICY_DIR=str(policies)))
    assert result.returncode != 0
    assert "governance.E001" in result.stderr and "schema error" in result.stderr
