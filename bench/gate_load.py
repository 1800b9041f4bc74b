"""Gate load benchmark: gunicorn + PostgreSQL, driven by wrk from a second process on 127.0.0.1.

    uv run python bench/gate_load.py                      # full: 10,000 systems, 1M eval results, 1M cost rows
    uv run python bench/gate_load.py --scale 0.1          # a tenth of every count (say so when you quote it)
    uv run python bench/gate_load.py --reuse              # skip seeding: the bench database is already full

What it does:
1. (Re)creates the PostgreSQL database ``clearance_bench`` (``--database`` to change it; it is
   dropped, so it must be disposable), migrates it and seeds it with COPY: users, systems (a third
   fully ready, the rest with something missing), published model cards, approved reviews,
   evaluation results and cost rows spread over the systems; then stores each system's readiness,
   as the worker does after a system is created.
2. Starts gunicorn (``--workers``, sync workers) on 127.0.0.1 on a free port with the production
   settings module plus one extra URL: ``/bench/ceiling/<slug>``, a bare Django JSON view doing one
   indexed query (the system by slug) — the ceiling for any view on this stack.
3. Drives ``POST /api/v1/gate/checks`` (random systems, a real gate token) and the ceiling with
   ``wrk`` (Debian package; a separate process) for ``--duration`` seconds each at ``--connections``,
   and prints requests per second, p50 / p95 / p99 latency, and the gate-to-ceiling ratio.
4. Times the engine in-process (pure evaluation of prepared facts): median and p99 per evaluation,
   and counts the queries of one gate call.

Figures, not assertions: compare the ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WRK_SCRIPT = r"""
local systems = {}
local n = 0
init = function(args)
  for slug in string.gmatch(args[1], "[^,]+") do n = n + 1; systems[n] = slug end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
request = function()
  local slug = systems[math.random(n)]
  if wrk.path == "/bench/ceiling/" then
    return wrk.format("GET", "/bench/ceiling/" .. slug)
  end
  local body = '{"system":"' .. slug .. '","environment":"production","commit":"bench"}'
  return wrk.format("POST", "/api/v1/gate/checks", wrk.headers, body)
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK {"requests":%d,"seconds":%.3f,"non2xx":%d,"errors":%d,"p50":%.3f,"p95":%.3f,"p99":%.3f,"mean":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status, errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- database -------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def copy_rows(model: type[Model], columns: list[str], rows: Iterable[tuple[object, ...]]) -> int:
    """COPY rows into a model's table, filling every other NOT NULL column from the model's own
    defaults (so the script follows model changes instead of breaking on them)."""
    from django.db import connection, models

    now = datetime.now(UTC)
    fields = {f.column: f for f in model._meta.concrete_fields if not f.primary_key and f.column}
    extra: dict[str, object] = {}
    for column, field in fields.items():
        if column in columns:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            extra[column] = now
        elif field.has_default():
            value = field.get_default()
            extra[column] = json.dumps(value) if isinstance(field, models.JSONField) else value
        elif field.null:
            continue
        elif field.blank and isinstance(field, models.CharField | models.TextField):
            extra[column] = ""
        else:
            raise SystemExit(f"bench: {model.__name__}.{field.name} needs a value; teach gate_load.py about it")
    all_columns = columns + list(extra)
    table = model._meta.db_table
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor
        cols = ", ".join(f'"{c}"' for c in all_columns)
        with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            tail = tuple(extra.values())
            for row in rows:
                copy.write_row(tuple(row) + tail)
                count += 1
    return count


def seed(n_systems: int, n_evals: int, n_costs: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from catalog.models import AISystem, CostRecord, EvalResult, ModelCard
    from clearance.roles import Role
    from clearance.tokens import api_token_create
    from governance.models import Review

    User = get_user_model()
    now = datetime.now(UTC)
    lead = User.objects.create_user("bench-lead", password="x")  # noqa: S106
    lead.groups.add(Group.objects.get_or_create(name=Role.GOVERNANCE_LEAD.value)[0])
    owners = [User.objects.create_user(f"owner-{i}", password="x") for i in range(50)]  # noqa: S106
    reviewer = User.objects.create_user("bench-reviewer", password="x")  # noqa: S106
    rng = random.Random(42)  # noqa: S311 - benchmark data, not secrets
    tiers = ["high", "limited", "minimal"]

    log(f"seeding {n_systems:,} systems")
    t0 = time.perf_counter()

    def systems() -> Iterator[tuple[object, ...]]:
        for i in range(n_systems):
            o = owners[i % len(owners)].pk
            yield (f"sys-{i:05d}", f"System {i}", "benchmark system", "production", tiers[i % 3], o, o, o,
                   "v1", json.dumps(["internal"]), "https://runbooks.example.com/x", "accuracy", 0.8, True)

    copy_rows(AISystem, ["slug", "name", "purpose", "lifecycle_stage", "risk_tier", "business_owner_id",
                         "technical_owner_id", "risk_owner_id", "model_version", "data_categories", "runbook_url",
                         "primary_metric", "metric_threshold", "metric_higher_is_better"], systems())
    ids = list(AISystem.objects.order_by("pk").values_list("pk", flat=True))
    ready = set(ids[::3])

    copy_rows(ModelCard, ["system_id", "version", "status", "created_by_id", "published_by_id", "published_at"],
              ((sid, 1, "published", lead.pk, lead.pk, now - timedelta(days=20)) for sid in ids if sid in ready or sid % 2))

    def reviews() -> Iterator[tuple[object, ...]]:
        for sid in ready:
            for kind in ("security", "legal"):
                yield (kind, sid, "approved", lead.pk, now - timedelta(days=5), now + timedelta(days=5),
                       reviewer.pk, now - timedelta(days=4), "ok", now + timedelta(days=300))

    copy_rows(Review, ["kind", "system_id", "status", "opened_by_id", "opened_at", "due_at", "decided_by_id",
                       "decided_at", "rationale", "expires_at"], reviews())
    from governance.models import DecisionRecord

    copy_rows(DecisionRecord, ["system_id", "title", "context", "decision", "status", "created_by_id", "decided_at"],
              ((sid, "Deploy", "c", "d", "accepted", lead.pk, now) for sid in ready))

    log(f"seeding {n_evals:,} evaluation results")

    def evals() -> Iterator[tuple[object, ...]]:
        per = max(1, n_evals // len(ids))
        written = 0
        for sid in ids:
            for k in range(per):
                if written >= n_evals:
                    return
                fresh = k == per - 1
                yield (sid, "v1" if fresh or k % 2 else "v0", "accuracy", 0.9 if sid in ready else rng.random(),
                       "bench-set", "bench", f"run-{sid}-{k}",
                       now - timedelta(days=1 if fresh else 40 + k))
                written += 1

    copy_rows(EvalResult, ["system_id", "model_version", "metric", "value", "dataset", "source", "source_run_id",
                           "observed_at"], evals())
    log(f"seeding {n_costs:,} cost rows")

    def costs() -> Iterator[tuple[object, ...]]:
        per = max(1, n_costs // len(ids))
        written = 0
        for sid in ids:
            for k in range(per):
                if written >= n_costs:
                    return
                start = now - timedelta(days=k + 1)
                yield (sid, start, start + timedelta(days=1), "1.250000", "1.100000", "USD", "openai", "bench",
                       f"cost-{sid}-{k}")
                written += 1

    copy_rows(CostRecord, ["system_id", "period_start", "period_end", "billed_cost", "effective_cost", "currency",
                           "service", "source", "source_row_id"], costs())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"seeded in {time.perf_counter() - t0:.1f}s")
    # COPY bypasses the services, so no worker was asked to store readiness: do what it does after
    # each system's creation, so the gate meets the stored verdicts a live installation has.
    from governance.services.readiness import readiness_recompute

    t0 = time.perf_counter()
    for system_id in AISystem.objects.order_by("pk").values_list("pk", flat=True):
        readiness_recompute(system_id=system_id, reason="benchmark seeded")
    log(f"stored readiness of {n_systems:,} systems in {time.perf_counter() - t0:.1f}s")
    token = api_token_create(user=lead, name="bench", scopes=["gate:check", "read"]).plaintext
    return {"token": token}


# --- serving and load -------------------------------------------------------------------------------


def serve(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "bench.bench_server:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--access-logfile", "/dev/null", "--error-logfile", "-", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603 - our own argv
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/bench/ceiling/sys-00000", timeout=2).read()  # noqa: S310
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not come up")


def run_wrk(base: str, path: str, token: str, slugs: list[str], duration: int, connections: int,
            threads: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT)
        script = fh.name
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
           "-s", script, "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
           base + path, "--", ",".join(slugs)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True).stdout  # noqa: S603
    line = next(li for li in out.splitlines() if li.startswith("WRK "))
    stats: dict[str, Any] = json.loads(line[4:])
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats


def engine_timing(samples: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from catalog.models import AISystem
    from governance.policy.engine import evaluate
    from governance.policy.loader import load_readiness_policy
    from governance.selectors.facts import collect_facts

    policy = load_readiness_policy()
    systems = list(AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner")
                   .order_by("?")[:200])
    facts = [collect_facts(s) for s in systems]
    now = timezone.now()
    times = []
    for i in range(samples):
        f = facts[i % len(facts)]
        start = time.perf_counter()
        evaluate(policy, "production", f, now)
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    with CaptureQueriesContext(connection) as queries:
        collect_facts(systems[0])
    return statistics.median(times), times[int(len(times) * 0.99) - 1], len(queries)


def gate_queries(token: str, slug: str) -> int:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = ["*"]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = json.dumps({"system": slug, "environment": "production"})
    client.post("/api/v1/gate/checks", body, content_type="application/json")
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/gate/checks", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/clearance_bench")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every seeded count (e.g. 0.1)")
    parser.add_argument("--reuse", action="store_true", help="do not recreate or seed the database")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--engine-samples", type=int, default=20000)
    parser.add_argument("--throttle-cache", default="redis://127.0.0.1:6379/6",
                        help="THROTTLE_CACHE_URL for the server (the production setting: shared by workers)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    var_dir = tempfile.mkdtemp(prefix="clearance-bench-")
    env = {**os.environ, "DATABASE_URL": args.database, "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
           "CLEARANCE_VAR_DIR": var_dir, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "SECRET_KEY": "bench-" + "x" * 50, "LOG_LEVEL": "WARNING", "GATE_RATE_LIMIT": "1000000/min",
           "THROTTLE_CACHE_URL": args.throttle_cache}
    os.environ.update(env)
    n_systems, n_evals, n_costs = (int(10_000 * args.scale), int(1_000_000 * args.scale), int(1_000_000 * args.scale))
    if not args.reuse:
        recreate_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command

    token_file = Path(tempfile.gettempdir()) / "clearance-bench-token"
    if not args.reuse:
        call_command("migrate", interactive=False, verbosity=0)
        token = seed(n_systems, n_evals, n_costs)["token"]
        token_file.write_text(token)
    else:
        token = token_file.read_text().strip()

    from catalog.models import AISystem, CostRecord, EvalResult

    counts = (AISystem.objects.count(), EvalResult.objects.count(), CostRecord.objects.count())
    slugs = list(AISystem.objects.order_by("?").values_list("slug", flat=True)[:2000])
    log(f"database: {counts[0]:,} systems, {counts[1]:,} evaluation results, {counts[2]:,} cost rows"
        + (f" (scale {args.scale})" if args.scale != 1 else ""))
    queries = gate_queries(token, slugs[0])
    median_us, p99_us, fact_queries = engine_timing(args.engine_samples)

    from django.db import connections

    connections.close_all()
    proc, base = serve(env, args.workers)
    try:
        log(f"gunicorn {args.workers} workers at {base}; wrk {args.threads} threads, {args.connections} connections, "
            f"{args.duration}s per target")
        run_wrk(base, "/bench/ceiling/", token, slugs, 3, args.connections, args.threads)  # warm up
        ceiling = run_wrk(base, "/bench/ceiling/", token, slugs, args.duration, args.connections, args.threads)
        gate = run_wrk(base, "/api/v1/gate/checks", token, slugs, args.duration, args.connections, args.threads)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    out = io.StringIO()
    out.write(f"\n{'target':<34}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'errors':>8}\n")
    for name, s in (("ceiling: GET one indexed row", ceiling), ("gate: POST /api/v1/gate/checks", gate)):
        out.write(f"{name:<34}{s['rps']:>9.1f}{s['p50']:>9.2f}{s['p95']:>9.2f}{s['p99']:>9.2f}"
                  f"{s['non2xx']:>9}{s['errors']:>8}\n")
    out.write(f"\ngate / ceiling: {gate['rps'] / ceiling['rps']:.2f} of the throughput, "
              f"p50 x{gate['p50'] / ceiling['p50']:.2f}, p99 x{gate['p99'] / ceiling['p99']:.2f}\n")
    out.write(f"queries per gate call: {queries} (facts snapshot: {fact_queries})\n")
    out.write(f"engine, in process: median {median_us:.1f} us, p99 {p99_us:.1f} us per evaluation "
              f"({args.engine_samples:,} evaluations)\n")
    print(out.getvalue(), flush=True)


if __name__ == "__main__":
    main()
