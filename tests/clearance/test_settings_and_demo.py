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
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG"}}
    return {**env, "CLEARANCE_VAR_DIR": str(tmp_path / "var"), **extra}


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = clean_env(
        tmp_path,
        SECRET_KEY="k" * 20 + "-production-secret-with-enough-entropy-" + "x9Q2!" * 4,
        DATABASE_URL="postgres://clearance@127.0.0.1:5432/clearance",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        ALLOWED_HOSTS="clearance.example.com",
        HTTPS="true",
        TOKEN_PEPPER="another-long-server-side-secret",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


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
