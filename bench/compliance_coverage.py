"""Compliance benchmark: the coverage computation for a large portfolio, next to the readiness and
evidence portfolio pages as baselines measured in the same run.

    uv run python bench/compliance_coverage.py [--systems 1000] [--controls 300] [--runs 3]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/compliance_coverage.py

Migrates a throwaway database (a temp SQLite file unless DATABASE_URL is set; that database must be
disposable), adds --systems systems (owners, a published card on every other one, an evaluation target
and a result, mixed tiers and vendors) in bulk, and a synthetic framework of --controls controls in a
temp FRAMEWORK_DIR beside the shipped ones (mapped one in three to a readiness requirement, the rest
to attestation). Prints, as the median of --runs requests: server time and query count of
  - /readiness/ (stored verdicts, 50 a page) and /evidence/ (the engine, 25 a page): the baselines;
  - /compliance/?framework=… for each shipped framework and for the synthetic one, which judge every
    visible system (not a page) with the gate's facts and engine: cold (the status cache emptied before
    each request: every system judged), warm (nothing changed: every status from the cache) and with one
    system's facts version bumped before each request (that one judged again).
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import AISystem, EvalResult, ModelCard  # noqa: E402


def synthetic_framework(directory: Path, controls: int) -> None:
    requirements = ["owners-assigned", "model-card-published", "evaluation-threshold", "runbook-linked"]
    lines = ["# Synthetic framework for the benchmark. Source: generated. Licence: Apache-2.0.",
             "apiVersion: clearance/v1", "kind: Framework", "id: bench", "name: Bench", "version: '1'",
             "source: {title: generated, url: 'https://example.com', note: generated}", "licence: Apache-2.0",
             "families:"]
    lines += [f"  - {{id: F{f}, title: Family {f}}}" for f in range(10)]
    lines.append("controls:")
    lines += [f"  - {{id: C{n}, family: F{n % 10}, title: Control {n}, summary: Synthetic control {n}.}}"
              for n in range(controls)]
    (directory / "bench.yaml").write_text("\n".join(lines) + "\n")
    mapping = ["# Source: generated. Licence: Apache-2.0.", "apiVersion: clearance/v1", "kind: FrameworkMapping",
               "policy: default", "mappings:"]
    mapping += [f"  - {{control: bench/C{n}, requirements: [{requirements[n % 4]}]}}" for n in range(0, controls, 3)]
    (directory / "mappings" / "bench.yaml").write_text("\n".join(mapping) + "\n")


def build(count: int, users: dict[str, User]) -> None:
    tiers = ["high", "limited", "minimal"]
    AISystem.objects.bulk_create([
        AISystem(slug=f"sys-{n:05d}", name=f"System {n:05d}", purpose="Bench", risk_tier=tiers[n % 3],
                 lifecycle_stage="production", business_owner=users["lead"], technical_owner=users["owner"],
                 risk_owner=users["owner"], vendor="Acme" if n % 2 else "", data_categories=["personal"] if n % 4 else [],
                 primary_metric="acc", metric_threshold=0.7, runbook_url="https://runbooks.example.com/x" if n % 5 else "")
        for n in range(count)], batch_size=500)
    systems = list(AISystem.objects.order_by("pk"))
    now = timezone.now()
    ModelCard.objects.bulk_create([ModelCard(system=s, version=1, status="published", published_at=now, created_by=users["owner"],
                                             model_details="m", intended_use="u", limitations="l")
                                   for s in systems[::2]], batch_size=500)
    EvalResult.objects.bulk_create([EvalResult(system=s, metric="acc", value=0.8, source="bench", source_run_id=str(s.pk),
                                               observed_at=now - timedelta(days=1)) for s in systems], batch_size=500)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", type=int, default=1000)
    parser.add_argument("--controls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    frameworks = Path(tempfile.mkdtemp(prefix="clearance-bench-frameworks-"))
    shutil.copytree(Path(settings.FRAMEWORK_DIR), frameworks, dirs_exist_ok=True)
    synthetic_framework(frameworks, args.controls)
    settings.FRAMEWORK_DIR = frameworks
    call_command("migrate", interactive=False, verbosity=0)
    users: dict[str, User] = {}
    for name, role in (("owner", "system-owner"), ("lead", "governance-lead")):
        users[name] = User.objects.create_user(username=f"bench-{name}", password="x")
        users[name].groups.add(Group.objects.get_or_create(name=role)[0])
    start = time.perf_counter()
    build(args.systems, users)
    print(f"database: {connection.vendor}, {args.systems} systems, synthetic framework of {args.controls} controls, "
          f"runs: {args.runs}, setup {time.perf_counter() - start:.1f} s")
    client = Client()
    client.force_login(users["lead"])

    def measure(label: str, url: str, before: Any = None) -> None:
        client.get(url)  # warm-up: templates, the library cache, the policy cache
        samples, queries = [], 0
        for _ in range(args.runs):
            if before is not None:
                before()
            with CaptureQueriesContext(connection) as ctx:
                t = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(ctx.captured_queries)
        print(f"{label:<52} median {statistics.median(samples):9.1f} ms  {queries:3d} queries")

    measure("baseline: /readiness/ (stored verdicts, 50 a page)", "/readiness/")
    measure("baseline: /evidence/ (engine, 25 a page)", "/evidence/")
    import importlib

    import compliance

    # A checkout from before the status cache measures the plain page only (look in this checkout's
    # package: an editable install may find another checkout's module by name).
    has_cache = (Path(compliance.__file__).parent / "cache.py").exists()
    cache: Any = importlib.import_module("compliance.cache") if has_cache else None
    from governance.services.readiness import facts_changed

    one = AISystem.objects.order_by("pk").values_list("pk", flat=True)[0]
    for fw in ("eu-ai-act", "nist-ai-rmf", "iso-42001", "nist-ai-600-1", "bench"):
        url = f"/compliance/?framework={fw}"
        if cache is None:
            measure(f"{url} (all {args.systems} systems)", url)
            continue
        measure(f"{url} cold (no cached status)", url, cache.clear)
        measure(f"{url} warm (nothing changed)", url)
        measure(f"{url} one system's facts changed", url, lambda: facts_changed(system_id=one))
    measure("/systems/sys-00000/compliance/ (one system, all frameworks)", "/systems/sys-00000/compliance/")


if __name__ == "__main__":
    main()
