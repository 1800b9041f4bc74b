"""Real server processes for fault tests: a private redis-server on a free port (never the shared
one) and gunicorn serving the app against the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout:.0f}s")


class PrivateRedis:
    """redis-server on its own free port with no persistence, like a cache that restarts empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 10, self.proc)

    def kill(self) -> None:
        """SIGKILL: the cache is gone at once, connections refused."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the cache hangs (accepts nothing, answers nothing)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def keys(self, pattern: str = "*") -> list[str]:
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--raw", "keys", pattern],  # noqa: S603, S607
                             capture_output=True, text=True, timeout=10, check=True)
        return [line for line in out.stdout.splitlines() if line]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Gunicorn:
    """The app under gunicorn, as in production, against the test database; ``env`` overrides the
    environment (e.g. POLICY_DIR, THROTTLE_CACHE_URL, DATABASE_URL)."""

    def __init__(self, database_url: str, log_path: Path, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        full_env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CLEARANCE_VAR_DIR": str(settings.VAR_DIR),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "gunicorn", "clearance.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--timeout", "30", "--graceful-timeout", "5"],
            cwd=BASE_DIR, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_port(self.port, 60, self.proc)
        except AssertionError:
            self.stop()
            raise AssertionError(self.output()) from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def post_gate(self, token: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, dict[str, Any], Any]:
        """(status, JSON body, headers) of one gate call."""
        import json

        request = urllib.request.Request(f"{self.url}/api/v1/gate/checks", data=json.dumps(body).encode(),
                                         method="POST", headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own server
                return response.status, json.loads(response.read()), response.headers
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = {"not_json": raw[:300].decode(errors="replace")}
            return exc.code, doc, exc.headers

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
