"""FOCUS re-delivery benchmark: a month's FOCUS 1.2 export delivered, delivered again unchanged, then
delivered restated, through the real sync path (connector → staged batches → swap transaction), on
SQLite and on PostgreSQL. Every time is printed next to the same database's own bulk load of the same
rows measured in the same run (SQLite: one executemany of the CSV rows into a table of the file's
columns in one transaction; PostgreSQL: COPY of the file into a typed table), as a ratio.

The file repeats one row in fifty verbatim (two resources billed the same: two charges); the
restated file changes one amount in ten, withdraws the last 1% of the rows and adds 0.5% new ones.
After each delivery the child checks the record count and the sum of EffectiveCost against the file.

    uv run python bench/focus_redelivery.py [--rows 50000] [--timeout 900]
        [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--no-postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parents[1]
COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "ResourceId", "ResourceName", "ServiceCategory", "ServiceName", "SkuId", "Tags",
]
RESOURCES = 1000
TWIN_EVERY = 50


def generate(path: Path, rows: int, *, restated: bool = False) -> tuple[int, Decimal]:
    """Write the file; return (rows, sum of EffectiveCost) as the import must record them."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    kept = rows - rows // 100 if restated else rows
    late = rows // 200 if restated else 0

    def charge(i: int, resource: str) -> tuple[str, Decimal]:
        hour, resource_no = divmod(i, RESOURCES)
        t0 = start + timedelta(hours=hour % 720)  # every row in the September billing period
        t1 = t0 + timedelta(hours=1)
        requests = 100 + (i * 7919) % 900
        cost = Decimal(requests) * Decimal("0.00042")
        if restated and i % 10 == 0:
            cost = cost * Decimal("0.9")  # a credit restates one amount in ten
        cost = cost.quantize(Decimal("0.000001"))
        effective = (cost * Decimal("0.9")).quantize(Decimal("0.000001"))
        return (
            f"{cost},1001,Acme,USD,2026-10-01T00:00:00Z,2026-09-01T00:00:00Z,Usage,,Inference requests,"
            f"{t1.strftime(iso)},{t0.strftime(iso)},{requests},Requests,{cost},{effective},Acme Cloud,"
            f"{cost},{requests},Requests,Acme Cloud,Acme Cloud,{resource}-{resource_no:04d}-{hour // 720},"
            f'llm-{resource_no:04d},AI and Machine Learning,LLM Inference,sku-1,"{{""ai_system"": ""support-copilot""}}"\n'
        ), effective

    written, total = 0, Decimal(0)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("\ufeff" + ",".join(COLUMNS) + "\n")
        for target, resource in ((kept, "deploy"), (kept + late, "late")):
            i = 0
            while written < target:
                line, effective = charge(i, resource)
                # One charge in TWIN_EVERY appears twice: two resources billed the same, two charges.
                for _ in range(2 if i % TWIN_EVERY == 0 else 1):
                    if written < target:
                        f.write(line)
                        written, total = written + 1, total + effective
                i += 1
    return written, total


def child(first: str, restated: str, expect: str) -> None:
    """Runs in a fresh process with DATABASE_URL set: baseline, then the three deliveries, each checked."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from catalog.models import CostRecord, SyncRun
    from catalog.services import evidence
    from catalog.services.systems import system_create

    expected = json.loads(expect)
    # The source reads its own copy: the restated delivery overwrites it, and the next backend
    # starts from the first file again.
    delivery = Path(first).with_name(f"delivery-{os.getpid()}.csv")
    shutil.copyfile(first, delivery)

    def say(**fields: Any) -> None:
        print(json.dumps(fields), flush=True)

    say(phase="baseline", seconds=baseline(connection, Path(first)))
    system = system_create(actor=None, name="Support copilot", slug="support-copilot", purpose="bench",
                           risk_tier="limited")
    source = evidence.source_create(actor=None, system=system, kind="focus", name="bill", location=str(delivery),
                                    tag_key="ai_system")

    def deliver(phase: str, rows: int, total: str) -> None:
        say(phase=phase, started=True)
        run, _ = evidence.sync_request(actor=None, source=source)
        started = time.perf_counter()
        outcome = evidence.sync_run_execute(run_id=run.pk)
        seconds = time.perf_counter() - started
        run = SyncRun.objects.get(pk=run.pk)
        assert outcome == "succeeded", run.error
        # Summed in Python: SQLite's SUM of a decimal column goes through floats.
        amounts = list(CostRecord.objects.values_list("effective_cost", flat=True))
        got = (len(amounts), sum(amounts, Decimal(0)))
        assert got == (rows, Decimal(total)), (phase, got, rows, total)
        say(phase=phase, seconds=seconds, added=run.rows_added, duplicate=run.rows_duplicate,
            removed=run.rows_removed, records=got[0], total=str(got[1]))

    deliver("first delivery", *expected["first"])
    before = list(CostRecord.objects.order_by("pk").values_list("pk", "source_row_id", "ingested_at"))
    deliver("same file again", *expected["first"])
    after = list(CostRecord.objects.order_by("pk").values_list("pk", "source_row_id", "ingested_at"))
    assert before == after, "a re-delivery of the same file rewrote rows"
    shutil.copyfile(restated, delivery)
    deliver("restated file", *expected["restated"])


def baseline(connection: Any, file: Path) -> float:
    """The database's own bulk load of the same rows into a table of the file's columns."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS focus_baseline")
        if connection.vendor == "postgresql":
            types = {"BilledCost": "numeric", "ContractedCost": "numeric", "EffectiveCost": "numeric",
                     "ListCost": "numeric", "ConsumedQuantity": "numeric", "PricingQuantity": "numeric",
                     "BillingPeriodEnd": "timestamptz", "BillingPeriodStart": "timestamptz",
                     "ChargePeriodEnd": "timestamptz", "ChargePeriodStart": "timestamptz", "Tags": "jsonb"}
            cursor.execute("CREATE TABLE focus_baseline (" + ", ".join(f'"{c}" {types.get(c, "text")}' for c in COLUMNS)
                           + ")")
            started = time.perf_counter()
            with cursor.cursor.copy("COPY focus_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy, \
                    file.open("rb") as f:
                head = f.read(3)
                if head != b"\xef\xbb\xbf":  # COPY does not know byte-order marks
                    copy.write(head)
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            seconds = time.perf_counter() - started
        else:
            cursor.execute("CREATE TABLE focus_baseline (" + ", ".join(f'"{c}"' for c in COLUMNS) + ")")
            sql = f"INSERT INTO focus_baseline VALUES ({', '.join(['%s'] * len(COLUMNS))})"  # noqa: S608
            started = time.perf_counter()
            with file.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f)
                next(reader)
                cursor.execute("BEGIN")
                cursor.executemany(sql, reader)
                cursor.execute("COMMIT")
            seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM focus_baseline")
        assert cursor.fetchone()[0] > 0
        cursor.execute("DROP TABLE focus_baseline")
    return seconds


def run_child(files: tuple[Path, Path], expect: dict[str, Any], env: dict[str, str],
              timeout: float) -> list[dict[str, Any]]:
    """The child's phases as they finish; a phase still running at the timeout is reported as stalled."""
    out_path = files[0].parent / "child.out"
    with out_path.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, __file__, "--child", str(files[0]), str(files[1]), json.dumps(expect)],
            cwd=BASE_DIR, env={**os.environ, **env}, stdout=out, stderr=subprocess.PIPE, text=True,
        )
        started = time.monotonic()
        stalled = False
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            stalled = True
    phases = [json.loads(line) for line in out_path.read_text().splitlines() if line.startswith("{")]
    if stalled:
        running = phases[-1]["phase"] if phases and phases[-1].get("started") else "?"
        spent = sum(p.get("seconds", 0) for p in phases if p["phase"] != "baseline")
        phases.append({"phase": running, "stalled": True, "seconds": time.monotonic() - started - spent})
    elif process.returncode != 0:
        raise SystemExit(f"the import failed:\n{stderr[-4000:]}")
    return [p for p in phases if "seconds" in p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a backend's run counts as stalled")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
                        help="a server where the benchmark may create and drop its own database")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="focus-redelivery-"))
    try:
        first, restated = work / "focus.csv", work / "focus-restated.csv"
        n1, s1 = generate(first, args.rows)
        n2, s2 = generate(restated, args.rows, restated=True)
        expect = {"first": [n1, str(s1)], "restated": [n2, str(s2)]}
        print(f"{n1:,} rows ({first.stat().st_size / 1e6:.1f} MB, one in {TWIN_EVERY} repeated verbatim); "
              f"restated: {n2:,} rows (one amount in ten changed, 1% withdrawn, 0.5% new)")
        env = {"EVIDENCE_ALLOWED_DIRS": str(work), "CLEARANCE_VAR_DIR": str(work / "var"),
               "EVIDENCE_SYNC_SOFT_TIME_LIMIT": "100000", "LOG_LEVEL": "WARNING"}
        results: list[tuple[str, list[dict[str, Any]]]] = []
        if not args.no_sqlite:
            db = work / "bench.sqlite3"
            results.append(("SQLite", run_child((first, restated), expect, {**env, "DATABASE_URL": f"sqlite:///{db}"},
                                                args.timeout)))
        if not args.no_postgres:
            import psycopg

            name = f"clearance_focus_redelivery_{os.getpid()}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                url = args.postgres.rsplit("/", 1)[0] + "/" + name
                results.append(("PostgreSQL", run_child((first, restated), expect, {**env, "DATABASE_URL": url},
                                                        args.timeout)))
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        print()
        print(f"{'backend':<11} {'phase':<16} {'rows':>9} {'seconds':>9} {'x baseline':>11} "
              f"{'added':>8} {'unchanged':>9} {'removed':>8}")
        for label, phases in results:
            base = next(p["seconds"] for p in phases if p["phase"] == "baseline")
            for p in phases:
                rows = n2 if p["phase"] == "restated file" else n1
                if p.get("stalled"):
                    print(f"{label:<11} {p['phase']:<16} {rows:>9,} {'>' + format(p['seconds'], '.0f'):>9} "
                          f"{'>' + format(p['seconds'] / base, '.0f'):>11}   stalled: stopped at the timeout")
                    continue
                extra = (f"{p['added']:>8,} {p['duplicate']:>9,} {p['removed']:>8,}" if "added" in p else "")
                print(f"{label:<11} {p['phase']:<16} {rows:>9,} {p['seconds']:>9.2f} {p['seconds'] / base:>10.1f}x {extra}")
        print("\nx baseline = seconds / the same database's bulk load of the same file in the same run "
              "(SQLite: executemany\nin one transaction; PostgreSQL: COPY into a typed table). Each delivery is"
              " checked: record count and\nsum of EffectiveCost equal the file's, and the unchanged re-delivery"
              " rewrites no row.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
