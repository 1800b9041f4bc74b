"""Operations benchmark: probes, the Prometheus scrape with a large portfolio, and what the metrics
cost the gate, each against a baseline measured in the same run.

    uv run python bench/operations.py [--systems 1000] [--runs 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \
        uv run python bench/operations.py

Seeds the demo portfolio into a throwaway database (a temp SQLite file unless DATABASE_URL is set;
that database is migrated and must be disposable), adds --systems more systems and asks the gate
once for each of them in production and in staging, so the scrape carries a verdict series per
system and environment (2 x systems, the most a portfolio that size can have). Then prints, in
process, median and p95 server time of:
  - baseline: an authenticated GET of the API root through the same stack;
  - GET /healthz and GET /readyz (the real database, broker and cache of this configuration);
  - GET /metrics (with its size and series count);
  - a gate call with the metrics (middleware and gate instrumentation) and without them, in
    alternating blocks, and their ratio.
Figures, not assertions: compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_timing import describe, timed  # noqa: E402

os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
os.environ.setdefault("GATE_RATE_LIMIT", "1000000/min")
os.environ.setdefault("EVIDENCE_ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("METRICS_TOKEN", "bench-metrics-token")
# One log line per gate call would measure the terminal.
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    from catalog.services.systems import system_create
    from clearance.demo import seed_demo
    from clearance.tokens import api_token_create

    seed_demo()
    owner = get_user_model().objects.get(username="owner")
    token = api_token_create(user=owner, name="bench", scopes=["gate:check", "read"]).plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    started = time.perf_counter()
    slugs = []
    for n in range(args.systems):
        system = system_create(actor=owner, name=f"Bench system {n:05d}", slug=f"bench-{n:05d}",
                               purpose="Benchmark portfolio", risk_tier="minimal", business_owner=owner,
                               technical_owner=owner, risk_owner=owner)
        slugs.append(system.slug)
    for slug in slugs:
        for environment in ("production", "staging"):
            response = client.post("/api/v1/gate/checks", json.dumps({"system": slug, "environment": environment}),
                                   content_type="application/json")
            assert response.status_code == 200, response.content
    print(f"database: {connection.vendor}, broker: {settings.CELERY_BROKER_URL.split('://')[0]}, "
          f"{args.systems} extra systems seeded and gated twice each in {time.perf_counter() - started:.0f} s, "
          f"runs: {args.runs}")

    def get(path: str, headers: dict[str, str] | None = None) -> Callable[[], None]:
        def call() -> None:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
        return call

    base = statistics.median(timed(get("/api/v1/"), args.runs, warm=10))
    print(describe("baseline (GET /api/v1/)", timed(get("/api/v1/"), args.runs, warm=10), None, width=34))
    print(describe("GET /healthz", timed(get("/healthz"), args.runs, warm=10), base, width=34))
    print(describe("GET /readyz", timed(get("/readyz"), args.runs, warm=10), base, width=34))
    scrape = get("/metrics", {"Authorization": f"Bearer {settings.METRICS_TOKEN}"})
    print(describe("GET /metrics", timed(scrape, max(args.runs // 4, 20), warm=3), base, width=34))
    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}").content
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    verdicts = sum(1 for line in body.splitlines() if line.startswith(b"clearance_gate_verdicts_total{"))
    print(f"{'':<34} {len(body) / 1024:.0f} KiB, {series} samples ({verdicts} gate verdict series)")

    # The gate with and without the metrics, in alternating blocks so drift hits both alike.
    without_middleware = [m for m in settings.MIDDLEWARE if m != "clearance.observability.metrics.MetricsMiddleware"]

    def gate(on: Client) -> Callable[[], None]:
        def call() -> None:
            response = on.post("/api/v1/gate/checks", json.dumps({"system": "support-copilot",
                                                                  "environment": "production"}),
                               content_type="application/json")
            assert response.status_code == 200, response.content
        return call

    with_metrics: list[float] = []
    without_metrics: list[float] = []
    for _ in range(5):
        with_metrics += timed(gate(Client(HTTP_AUTHORIZATION=f"Bearer {token}")), args.runs // 5, warm=10)
        with override_settings(MIDDLEWARE=without_middleware), \
                mock.patch("governance.api.views.observe_gate", lambda **kwargs: None):
            without_metrics += timed(gate(Client(HTTP_AUTHORIZATION=f"Bearer {token}")), args.runs // 5, warm=10)
    plain = statistics.median(without_metrics)
    print(describe("gate without metrics", without_metrics, base, width=34))
    print(describe("gate with metrics", with_metrics, base, width=34))
    print(f"{'':<34} with / without: x{statistics.median(with_metrics) / plain:.3f} "
          f"({statistics.median(with_metrics) - plain:+.3f} ms)")


if __name__ == "__main__":
    main()
