"""Gate latency benchmark: server time of POST /api/v1/gate/checks, in-process, against a baseline.

    uv run python bench/gate_latency.py [--runs 300] [--profile 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/gate_latency.py

Seeds the demo portfolio into a throwaway database (a temp SQLite file unless DATABASE_URL is set;
that database is migrated and must be disposable), then times the gate for a passing and a blocked
system next to a baseline request through the same stack (an authenticated GET of the API root),
and prints medians, p95, the ratio to the baseline and the queries per gate call. With ``--profile N``
it then runs N more gate calls under cProfile and prints where one call spends its time (per call,
by cumulative time). Figures, not assertions: machines are noisy, so compare ratios measured in the
same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_timing import describe, timed  # noqa: E402

os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
# Measure the gate, not the per-token rate limit (thousands of calls with one token).
os.environ.setdefault("GATE_RATE_LIMIT", "1000000/min")
# The demo portfolio it seeds has an MLflow source on this machine, which must be allowed explicitly.
os.environ.setdefault("EVIDENCE_ALLOWED_HOSTS", "127.0.0.1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="profile this many gate calls (cProfile)")
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    from clearance.demo import seed_demo
    from clearance.tokens import api_token_create

    seed_demo()
    owner = get_user_model().objects.get(username="owner")
    token = api_token_create(user=owner, name="bench", scopes=["gate:check", "read"]).plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def gate(slug: str) -> Callable[[], None]:
        def call() -> None:
            response = client.post("/api/v1/gate/checks", json.dumps({"system": slug, "environment": "production"}),
                                   content_type="application/json")
            assert response.status_code == 200, response.content
        return call

    def baseline() -> None:
        assert client.get("/api/v1/").status_code == 200

    print(f"database: {connection.vendor}, runs: {args.runs}")
    base = timed(baseline, args.runs, warm=10)
    base_median = statistics.median(base)
    print(describe("baseline (GET /api/v1/)", base, None))
    for slug in ("support-copilot", "churn-predictor"):
        print(describe(f"gate {slug}", timed(gate(slug), args.runs, warm=10), base_median))
        with CaptureQueriesContext(connection) as queries:
            gate(slug)()
        print(f"{'':<28} {len(queries)} queries per gate call")
    if args.profile:
        profile(gate("support-copilot"), args.profile)


def profile(call: Callable[[], None], runs: int) -> None:
    """Where one gate call spends its time: cProfile over ``runs`` calls, the top entries by
    cumulative time, divided by ``runs``."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, calls, total, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("site-packages/")[-1].replace(str(Path(__file__).resolve().parents[1]) + "/", "")
        rows.append((cumulative / runs * 1000, total / runs * 1000, calls / runs, f"{where}:{line}({name})"))
    ours = ("clearance/", "governance/", "catalog/", "rest_framework/views.py", "django/db/backends/utils.py")
    print(f"\nprofile of one gate call (support-copilot, mean of {runs}): this project's functions, DRF's dispatch "
          "and the database calls, by cumulative time")
    print(f"{'cum ms':>8} {'own ms':>8} {'calls':>6}  function")
    for cum, own, calls, where in sorted(rows, reverse=True):
        if where.startswith(ours) and cum >= 0.05:
            print(f"{cum:>8.3f} {own:>8.3f} {calls:>6.1f}  {where}")
    print("\ntop 12 by own time:")
    for cum, own, calls, where in sorted(rows, key=lambda r: r[1], reverse=True)[:12]:
        print(f"{cum:>8.3f} {own:>8.3f} {calls:>6.1f}  {where}")


if __name__ == "__main__":
    main()
