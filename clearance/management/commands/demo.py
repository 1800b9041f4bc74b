"""``manage.py demo``: the embedded default in one command.

Migrates the database (SQLite in var/ unless DATABASE_URL says otherwise), seeds demo data once,
prints a login per persona and a ready-to-run gate command, then runs the web app (gunicorn), a
Celery worker and Celery beat on the configured broker (kombu's filesystem transport by default,
no server needed). Ctrl-C stops all three.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearance.demo import DemoDataError, seed_demo
from clearance.tokens import Scope, api_token_create, resolve_token


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Migrate, seed demo data and run the web app with a Celery worker and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="do not start the Celery worker and beat")
        parser.add_argument(
            "--exit-when-ready", action="store_true", help="start everything, wait until the app answers, then stop (smoke test)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if "EVIDENCE_ALLOWED_HOSTS" not in os.environ:
            # The demo's MLflow source points at a tracking server on this machine; sources elsewhere
            # may not reach local addresses. The worker inherits the allowance through the environment.
            os.environ["EVIDENCE_ALLOWED_HOSTS"] = "127.0.0.1"
            settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]
        call_command("migrate", interactive=False, verbosity=0)
        try:
            seed = seed_demo()
        except DemoDataError as exc:
            raise CommandError(f"the demo portfolio cannot be seeded: {exc}") from exc
        self.stdout.write(self.style.SUCCESS("Demo data " + ("created." if seed.created else "already present: reusing it.")))
        url = f"http://{options['host']}:{options['port']}"
        token = self._demo_token()
        self._print_logins(seed.logins, url, token)
        # Ctrl-C and a supervisor's SIGTERM both stop everything; a shell that started us in the
        # background may have left SIGINT ignored, so the handlers are set explicitly.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        processes = self._start(options)
        try:
            self._wait_ready(url, processes)
            self.stdout.write(self.style.SUCCESS(f"Clearance is running on {url}/ (Ctrl-C stops it)."))
            if options["exit_when_ready"]:
                return
            while all(proc.poll() is None for proc in processes.values()):
                time.sleep(0.5)
            dead = [name for name, proc in processes.items() if proc.poll() is not None]
            raise CommandError(f"{', '.join(dead)} stopped unexpectedly; stopping the rest")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop(processes)

    def _demo_token(self) -> str:
        """A gate token for the demo owner, kept in var/ so the printed command stays valid."""
        path = Path(settings.VAR_DIR) / "demo-gate-token"
        if path.exists():
            existing = path.read_text().strip()
            if resolve_token(existing) is not None:
                return existing
        owner = get_user_model().objects.get(username="owner")
        issued = api_token_create(user=owner, name="demo CI pipeline", scopes=[Scope.GATE_CHECK, Scope.READ])
        path.write_text(issued.plaintext)
        path.chmod(0o600)
        return issued.plaintext

    def _print_logins(self, logins: list[tuple[str, str, str]], url: str, token: str) -> None:
        self.stdout.write("\nLog in at " + url + "/login/ as:")
        width = max(len(name) for name, _, _ in logins)
        for name, password, role in logins:
            self.stdout.write(f"  {name.ljust(width)}  password {password}   {role}")
        self.stdout.write(
            "\nAsk the gate as a CI pipeline would (token of user 'owner', scopes gate:check and read):\n"
            f"  uv run clearance-check --url {url} --token {token} --system support-copilot --environment production\n"
            f"  uv run clearance-check --url {url} --token {token} --system churn-predictor --environment production\n"
        )

    def _start(self, options: dict[str, Any]) -> dict[str, subprocess.Popen[bytes]]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        base = Path(settings.BASE_DIR)
        commands = {
            "web": [sys.executable, "-m", "gunicorn", "clearance.wsgi:application", "--bind",
                    f"{options['host']}:{options['port']}", "--workers", "2", "--threads", "4",
                    "--access-logfile", "-", "--graceful-timeout", "5"],
        }
        if not options["no_worker"]:
            commands["worker"] = [sys.executable, "-m", "celery", "-A", "clearance", "worker", "--pool", "solo",
                                  "--loglevel", "INFO", "--hostname", "demo-worker@%h"]
            commands["beat"] = [sys.executable, "-m", "celery", "-A", "clearance", "beat", "--loglevel", "INFO",
                                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME]
        processes = {}
        for name, cmd in commands.items():
            processes[name] = subprocess.Popen(cmd, cwd=base, env=env)  # noqa: S603 - fixed argv
        return processes

    def _wait_ready(self, url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    raise CommandError(f"{name} exited with {proc.returncode} while starting")
            try:
                with urllib.request.urlopen(f"{url}/login/", timeout=2) as response:  # noqa: S310 - our own loopback URL
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"the web app did not answer on {url} within {timeout:.0f}s")

    def _stop(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
