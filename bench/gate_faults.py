"""Gate answers under faults: a 10 s PostgreSQL outage and a Redis (throttle cache) stop.

    uv run python bench/gate_faults.py                  # a private PostgreSQL cluster, stopped for 10 s
    uv run python bench/gate_faults.py --outage lock    # ACCESS EXCLUSIVE on catalog_aisystem for 10 s,
                                                        # in a disposable database on the shared server

What it does:
1. Starts a private PostgreSQL cluster on a free port (``initdb`` as the ``postgres`` user when run
   as root; ``--outage lock`` uses ``--database`` on the shared server instead, dropped and
   recreated) and a private redis-server on a free port (never the shared ones), migrates, and
   seeds two blocked systems: a retired one (every artefact would not help) and one whose reviews
   are missing, with a gate token.
2. Runs gunicorn (``--workers``, sync, ``--timeout 30``) with ``THROTTLE_CACHE_URL`` on the private
   redis, and ``--threads`` clients calling the gate in a loop for the whole run.
3. Phases: baseline, PostgreSQL down (``pg_ctl stop -m immediate``, started again after
   ``--seconds``) or locked, recovery, redis killed (``SIGKILL``, restarted empty after
   ``--seconds``), recovery. A second into the database outage ``clearance-check`` starts with
   ``--retries`` 0, 2 (its default) and 8.
4. Prints, per phase, the answers by status, the passes (must be 0: both systems are blocked) and
   the latency, then the client's exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class PrivatePostgres:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.data = workdir / "pgdata"
        self.sock = workdir / "pgsock"
        self.sock.mkdir()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.sock, "postgres")
        self.run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def run(self, *argv: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv] if self.as_postgres else list(argv)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/clearance"

    def start(self) -> None:
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.data.parent / "pg.log"), "-o",
                 f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE clearance")


def recreate_shared(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> str:
    """Two blocked systems and a gate token; returns the token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from catalog.services.systems import system_create, system_move_lifecycle
    from clearance.roles import Role
    from clearance.tokens import api_token_create

    call_command("migrate", verbosity=0)
    User = get_user_model()
    lead = User.objects.create_user("lead", password="x-bench-only-1")
    lead.groups.add(Group.objects.get_or_create(name=Role.GOVERNANCE_LEAD.value)[0])
    retired = system_create(actor=lead, name="Legacy scorer", slug="legacy-scorer", purpose="Scores tickets.",
                            risk_tier="minimal", business_owner=lead, technical_owner=lead, risk_owner=lead)
    system_move_lifecycle(actor=lead, system=retired, to="retired")
    system_create(actor=lead, name="Support copilot", slug="support-copilot", purpose="Summaries.",
                  risk_tier="high", business_owner=lead, technical_owner=lead, risk_owner=lead)
    return api_token_create(user=lead, name="bench", scopes=["gate:check"], rate_per_minute=100_000).plaintext


class Driver:
    """Clients calling the gate in a loop; every answer is kept with its phase."""

    def __init__(self, url: str, token: str, threads: int) -> None:
        self.url, self.token = url, token
        self.phase = "baseline"
        self.results: list[tuple[str, str, str, float]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(i,), daemon=True) for i in range(threads)]

    def loop(self, index: int) -> None:
        slugs = ["legacy-scorer", "support-copilot"]
        n = index
        while not self.stop.is_set():
            body = json.dumps({"system": slugs[n % 2], "environment": "production"}).encode()
            n += 1
            request = urllib.request.Request(f"{self.url}/api/v1/gate/checks", data=body, method="POST",  # noqa: S310
                                             headers={"Authorization": f"Bearer {self.token}",
                                                      "Content-Type": "application/json"})
            phase, started = self.phase, time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=35) as response:  # noqa: S310 - our own server
                    status, verdict = str(response.status), json.loads(response.read())["verdict"]
            except urllib.error.HTTPError as exc:
                raw = exc.read()
                status = str(exc.code)
                verdict = "json" if raw.startswith(b"{") else "not-json"
                if exc.code == 503 and exc.headers.get("Retry-After") is None:
                    verdict += ",no-retry-after"
            except OSError as exc:
                status, verdict = "no answer", type(exc).__name__
            with self.lock:
                self.results.append((phase, status, verdict, time.monotonic() - started))
            if status != "200":
                time.sleep(0.05)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(40)


def warm_up(url: str, token: str, calls: int) -> None:
    """Every worker imports the views on its first call: measure a warm server, as in production."""
    body = json.dumps({"system": "support-copilot", "environment": "production"}).encode()
    for _ in range(calls):
        request = urllib.request.Request(f"{url}/api/v1/gate/checks", data=body, method="POST",  # noqa: S310
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own server
            assert response.status == 200


def run_client(url: str, token: str, retries: int, out: dict[str, object], key: str) -> None:
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-S", "-I", str(ROOT / "clearance" / "gate_client.py"), "--url", url, "--token", token,
         "--system", "support-copilot", "--environment", "production", "--retries", str(retries)],
        capture_output=True, text=True, timeout=300,
    )
    out[key] = (result.returncode, round(time.monotonic() - started, 1), result.stderr.count("retrying in"))


def report(driver: Driver, phases: list[str]) -> None:
    by_phase: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for phase, status, verdict, took in driver.results:
        by_phase[phase].append((status, verdict, took))
    print("\n| phase | calls | answers by status | passes | p50 ms | max ms |")
    print("|---|---:|---|---:|---:|---:|")
    for phase in phases:
        rows = by_phase.get(phase, [])
        if not rows:
            continue
        counts = Counter(f"{s} {v}" if s == "200" else (s if v == "json" else f"{s} ({v})") for s, v, _ in rows)
        passes = sum(1 for s, v, _ in rows if s == "200" and v == "pass")
        times = [t * 1000 for _, _, t in rows]
        shown = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
        print(f"| {phase} | {len(rows)} | {shown} | {passes} | {statistics.median(times):.0f} | {max(times):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", choices=("stop", "lock"), default="stop")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/clearance_faults_bench",
                        help="with --outage lock: a disposable database on the shared server")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="clearance-faults-"))
    os.chmod(work, 0o755)  # noqa: S103 - the postgres user runs the private cluster in it
    pg = None
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",  # noqa: S603, S607
                              "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
    wait_port(redis_port)
    if args.outage == "stop":
        (work / "pg").mkdir()
        pg = PrivatePostgres(work / "pg")
        pg.create_database()
        database_url = pg.url
    else:
        recreate_shared(args.database)
        database_url = args.database
    env = {**os.environ, "DATABASE_URL": database_url, "THROTTLE_CACHE_URL": f"redis://127.0.0.1:{redis_port}/0",
           "CLEARANCE_VAR_DIR": str(work / "var"), "CELERY_BROKER_URL": "memory://localhost/", "PYTHONUNBUFFERED": "1"}
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
    import django

    django.setup()
    token = seed()
    from django.db import connections

    connections.close_all()

    port = free_port()
    gunicorn_log = (work / "gunicorn.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "gunicorn", "clearance.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--timeout", "30"],
        cwd=ROOT, env=env, stdout=gunicorn_log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_port(port, 60)
    url = f"http://127.0.0.1:{port}"
    warm_up(url, token, args.workers * 4)
    driver = Driver(url, token, args.threads)
    clients: dict[str, object] = {}
    phases = ["baseline", "postgres down", "after postgres", "redis down", "after redis"]
    try:
        driver.start()
        time.sleep(5)

        driver.phase = "postgres down"
        lock_release = threading.Event()
        if pg is not None:
            log(f"stopping PostgreSQL (immediate) for {args.seconds:g}s")
            pg.stop("immediate")
        else:
            log(f"holding ACCESS EXCLUSIVE on catalog_aisystem for {args.seconds:g}s")
            locked = threading.Event()

            def hold() -> None:
                import psycopg

                with psycopg.connect(database_url) as conn:
                    conn.execute("LOCK TABLE catalog_aisystem IN ACCESS EXCLUSIVE MODE")
                    locked.set()
                    lock_release.wait()

            threading.Thread(target=hold, daemon=True).start()
            locked.wait(10)
        time.sleep(1)
        waiters = [threading.Thread(target=run_client, args=(url, token, retries, clients, f"--retries {retries}"))
                   for retries in (0, 2, 8)]
        for waiter in waiters:
            waiter.start()
        time.sleep(args.seconds - 1)
        if pg is not None:
            pg.start()
        lock_release.set()
        log("PostgreSQL back")
        driver.phase = "after postgres"
        time.sleep(5)

        driver.phase = "redis down"
        log(f"killing redis for {args.seconds:g}s")
        redis.kill()
        redis.wait()
        time.sleep(args.seconds)
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",  # noqa: S603, S607
                                  "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
        wait_port(redis_port)
        log("redis back (empty)")
        driver.phase = "after redis"
        time.sleep(5)
        for waiter in waiters:
            waiter.join(120)
    finally:
        driver.finish()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        redis.terminate()
        if pg is not None:
            pg.stop("fast")
    report(driver, phases)
    print("\nclearance-check during the database outage (exit code, seconds, retries):")
    for key, value in clients.items():
        print(f"  {key}: {value}")
    text = (work / "gunicorn.log").read_text(errors="replace")
    print(f"\nserver log: {text.count('answering 503')} answers 503 logged, "
          f"{text.count('throttle cache unavailable')} throttle-cache warnings, "
          f"{text.count('Traceback')} tracebacks, {text.count('WORKER TIMEOUT')} worker timeouts")
    print(f"(work directory: {work}; answers are counted in the phase in which they were asked)")


if __name__ == "__main__":
    main()
