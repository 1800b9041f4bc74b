"""FOCUS ingestion benchmark: a 1,000,000-row FOCUS 1.2 cost CSV imported through the real sync path
(connector → staged batches → one swap transaction), on SQLite and on PostgreSQL, next to
PostgreSQL's own COPY of the same file into a typed table: the ceiling. Prints rows/s, peak memory
(RSS of the importing process, at 1/10 and at full size to show it stays flat) and the ratio.

    uv run python bench/focus_ingest.py [--rows 1000000] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
                                        [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "ResourceId", "ResourceName", "ServiceCategory", "ServiceName", "SkuId", "Tags",
]
RESOURCES = 1000


def generate(path: Path, rows: int) -> None:
    """Hourly usage of RESOURCES model deployments; every row a distinct charge."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("\ufeff" + ",".join(COLUMNS) + "\n")  # real exports begin with a BOM
        for i in range(rows):
            hour, resource_no = divmod(i, RESOURCES)
            t0 = start + timedelta(hours=hour)
            t1 = t0 + timedelta(hours=1)
            requests = 100 + (i * 7919) % 900
            cost = requests * 0.00042
            f.write(
                f"{cost:.6f},1001,Acme,USD,2026-10-01T00:00:00Z,2026-09-01T00:00:00Z,Usage,,Inference requests,"
                f"{t1.strftime(iso)},{t0.strftime(iso)},{requests},Requests,{cost:.6f},{cost * 0.9:.6f},Acme Cloud,"
                f"{cost:.6f},{requests},Requests,Acme Cloud,Acme Cloud,deploy-{resource_no:04d},llm-{resource_no:04d},"
                f'AI and Machine Learning,LLM Inference,sku-1,"{{""ai_system"": ""support-copilot""}}"\n'
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(file: str) -> None:
    """Runs inside a fresh process with DATABASE_URL set: migrate, then one real sync of the file."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from catalog.models import CostRecord, SyncRun
    from catalog.services import evidence, staging
    from catalog.services.systems import system_create

    system = system_create(actor=None, name="Support copilot", slug="support-copilot", purpose="bench",
                                    risk_tier="limited")
    source = evidence.source_create(actor=None, system=system, kind="focus", name="bill", location=file,
                                    tag_key="ai_system")
    swap_seconds = []
    original_swap = staging.swap

    def timed_swap(run: SyncRun, is_cost: bool, now: datetime,
                   periods: set[tuple[datetime, datetime]] | None = None) -> tuple[int, int]:
        started = time.perf_counter()
        try:
            return original_swap(run, is_cost, now, periods)
        finally:
            swap_seconds.append(time.perf_counter() - started)

    setattr(evidence, "swap", timed_swap)  # noqa: B010 - measured, not changed: the share of the final INSERT … SELECT + DELETE
    before = peak_rss_mb()
    run, _ = evidence.sync_request(actor=None, source=source)
    started = time.perf_counter()
    outcome = evidence.sync_run_execute(run_id=run.pk)
    seconds = time.perf_counter() - started
    run = SyncRun.objects.get(pk=run.pk)
    assert outcome == "succeeded", run.error
    assert CostRecord.objects.count() == run.rows_added == run.rows_read, (run.rows_read, run.rows_added)
    print(json.dumps({"rows": run.rows_added, "seconds": seconds, "swap_seconds": sum(swap_seconds),
                      "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()}))


def parse_only(file: str) -> None:
    """The connector alone (CSV, Decimal, dates, row keys, Tags), no database: the Python share."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
    django.setup()
    from catalog.connectors import CONNECTORS, CostRow, SourceConfig

    connector = CONNECTORS["focus"](SourceConfig(kind="focus", location=file, system_slug="support-copilot",
                                                 tag_key="ai_system"))
    started = time.perf_counter()
    rows = sum(1 for item in connector.fetch() if isinstance(item, CostRow))
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started, "rss_before_mb": 0,
                      "peak_rss_mb": peak_rss_mb()}))


def run_child(file: Path, env: dict[str, str], mode: str = "--child") -> dict[str, float]:
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, __file__, mode, str(file)], cwd=BASE_DIR, env={**os.environ, **env},
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"import failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def pg_copy(url: str, file: Path) -> float:
    """PostgreSQL's own COPY of the same file into a typed table, streamed from the client."""
    import psycopg

    types = {"BilledCost": "numeric", "ContractedCost": "numeric", "EffectiveCost": "numeric", "ListCost": "numeric",
             "ConsumedQuantity": "numeric", "PricingQuantity": "numeric", "BillingPeriodEnd": "timestamptz",
             "BillingPeriodStart": "timestamptz", "ChargePeriodEnd": "timestamptz", "ChargePeriodStart": "timestamptz",
             "Tags": "jsonb"}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS focus_copy")
        conn.execute("CREATE TABLE focus_copy (" + ", ".join(f'"{c}" {types.get(c, "text")}' for c in COLUMNS) + ")")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY focus_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy, \
                file.open("rb") as f:
            head = f.read(3)
            if head != b"\xef\xbb\xbf":  # COPY does not know BOMs: hand it the file without one
                copy.write(head)
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        row = conn.execute("SELECT count(*) FROM focus_copy").fetchone()
        count = row[0] if row else 0
        conn.execute("DROP TABLE focus_copy")
    assert count, "COPY loaded nothing"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
                        help="a server where the benchmark may create and drop its own database")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--parse-only")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.parse_only:
        parse_only(args.parse_only)
        return

    work = Path(tempfile.mkdtemp(prefix="focus-bench-"))
    try:
        small, full = work / "focus-small.csv", work / "focus.csv"
        t = time.perf_counter()
        generate(full, args.rows)
        generate(small, max(args.rows // 10, 1))
        print(f"generated {args.rows:,} rows ({full.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        base_env = {"EVIDENCE_ALLOWED_DIRS": str(work), "CLEARANCE_VAR_DIR": str(work / "var"),
                    "EVIDENCE_SYNC_SOFT_TIME_LIMIT": "100000", "LOG_LEVEL": "WARNING"}
        results: list[tuple[str, int, dict[str, float]]] = []
        for label, size_file, rows in (("SQLite", small, max(args.rows // 10, 1)), ("SQLite", full, args.rows)):
            db = work / f"bench-{rows}.sqlite3"
            results.append((label, rows, run_child(size_file, {**base_env, "DATABASE_URL": f"sqlite:///{db}"})))
        parsed = run_child(full, base_env, "--parse-only")
        copy_seconds = None
        if not args.no_postgres:
            import psycopg

            name = f"clearance_focus_bench_{os.getpid()}"
            admin = args.postgres
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            url = admin.rsplit("/", 1)[0] + "/" + name
            try:
                for size_file, rows in ((small, max(args.rows // 10, 1)), (full, args.rows)):
                    with psycopg.connect(admin, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                        conn.execute(f'CREATE DATABASE "{name}"')
                    results.append(("PostgreSQL", rows, run_child(size_file, {**base_env, "DATABASE_URL": url})))
                copy_seconds = pg_copy(url, full)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        print()
        print(f"{'backend':<11} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'RSS before':>11} {'peak RSS':>9} {'vs COPY':>8}"
          f" {'of which swap':>14}")
        for label, rows, r in results:
            ratio = f"{copy_seconds / r['seconds']:.2f}x" if copy_seconds and rows == args.rows else ""
            print(f"{label:<11} {rows:>10,} {r['seconds']:>8.1f} {rows / r['seconds']:>9,.0f} "
                  f"{r['rss_before_mb']:>9.0f}MB {r['peak_rss_mb']:>7.0f}MB {ratio:>8} {r['swap_seconds']:>13.1f}s")
        print(f"{'parse only':<11} {args.rows:>10,} {parsed['seconds']:>8.1f} {args.rows / parsed['seconds']:>9,.0f}"
              f"{'':>12}{parsed['peak_rss_mb']:>7.0f}MB{'':>9}   (the connector alone, no database)")
        if copy_seconds:
            print(f"{'PG COPY':<11} {args.rows:>10,} {copy_seconds:>8.1f} {args.rows / copy_seconds:>9,.0f}"
                  f"{'':>22} {'1.00x':>8}   (ceiling: COPY of the same file into a typed table)")
        print("\nvs COPY = COPY seconds / import seconds (share of the ceiling reached). Peak RSS is the importing"
              "\nprocess's high-water mark; equal at 1/10 and full size means memory does not grow with the file.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
