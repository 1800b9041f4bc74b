"""Staging and swapping of a sync run's rows: what a connector yields is staged in committed
batches (progress visible, memory flat), then moved into EvalResult/CostRecord in one short
transaction on the natural key, so a run leaves all of its rows or none. A FOCUS delivery is the
truth for its billing periods of its source (see ``swap``). Used by ``catalog.services.evidence``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog.choices import COST_KINDS, SyncStatus
from catalog.connectors import (
    CostRow,
    EvalRecord,
    Ignored,
    RowError,
    SourceError,
)
from catalog.connectors.base import month_of
from catalog.models import (
    CostRecord,
    EvalResult,
    StagedCost,
    StagedEval,
    SyncRun,
)
from clearance.leases import LeaseLost
from clearance.untrusted import printable, text_problem

# PositiveIntegerField: 0 … 2**31 - 1 on every database Django supports.
# At most this many row errors are kept in a run's report; the rest are only counted.
MAX_ROW_ERRORS = 100

# A staging batch is flushed (and progress reported) at least this often.
PROGRESS_EVERY_SECONDS = 1.0


@dataclass
class Counts:
    read: int = 0
    valid: int = 0
    skipped: int = 0
    ignored: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


EVAL_COLUMNS = ("run_id", "system_id", "model_version", "metric", "value", "dataset", "step", "source",
                "source_run_id", "observed_at")


COST_COLUMNS = ("run_id", "system_id", "period_start", "period_end", "billed_cost", "effective_cost", "currency",
                "service", "resource_id", "charge_category", "request_count", "billing_period_start",
                "billing_period_end", "source", "source_row_id")


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    qn = connection.ops.quote_name
    # Table and column names come from model metadata, never from input; values are parameters.
    return f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608


BIGINT = (-(2**63), 2**63 - 1)


@functools.cache
def _columns(model: Any) -> tuple[dict[str, int], dict[str, Decimal]]:
    """(text column → max length, decimal column → the bound its digits allow) of a staging table."""
    fields = model._meta.get_fields()
    lengths = {f.name: f.max_length for f in fields if getattr(f, "max_length", None)}
    bounds = {f.name: Decimal(10) ** (f.max_digits - f.decimal_places) for f in fields
              if getattr(f, "max_digits", None) is not None}
    return lengths, bounds


# A record's field → its staging column (the connectors' names differ for the ids).
_RENAMED = {"run_id": "source_run_id", "row_id": "source_row_id"}


def record_problem(item: EvalRecord | CostRow) -> str | None:
    """Why a connector's record cannot be stored, or None: text with a NUL character or longer than
    its column (refused, as the forms refuse it, never cut short), a non-finite value, an amount or
    an integer beyond its column. The row is then skipped and reported like any rejected row."""
    lengths, bounds = _columns(StagedEval if isinstance(item, EvalRecord) else StagedCost)
    for name in item.__slots__:
        value = getattr(item, name)
        label = name.replace("_", " ")
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return f"{label} {problem}"
            limit = lengths.get(_RENAMED.get(name, name))
            if limit is not None and len(value) > limit:
                return f"{label} has at most {limit} characters ({len(value)} here)"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{label} {value!r} is not a finite number"
        elif isinstance(value, Decimal):
            bound = bounds[name]
            if not value.is_finite() or abs(value) >= bound:
                return f"{label} {value} is not an amount below {bound:,}"
        elif isinstance(value, int) and not isinstance(value, bool) and not BIGINT[0] <= value <= BIGINT[1]:
            return f"{label} {value} is out of range"
    return None


@contextmanager
def _hash_joins(cursor: Any) -> Iterator[None]:
    """Run the statement inside without nested-loop joins on PostgreSQL. The staging table was filled
    after its statistics were taken (autovacuum may have analyzed it empty, between runs), so the
    planner can believe it holds a row or two and rescan it, or a whole subquery over it, once per
    row: quadratic or worse. Hash and merge joins stay linear whatever the estimate. ANALYZE of the
    staging table would need the runtime role to own it, and would cost a sample on every run.
    SET LOCAL lasts until the transaction ends, so the previous value is put back afterwards (a
    failed statement rolls it back with the transaction)."""
    if connection.vendor != "postgresql":
        yield
        return
    cursor.execute("SHOW enable_nestloop")
    previous = cursor.fetchone()[0]
    cursor.execute("SET LOCAL enable_nestloop = off")
    yield
    cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [previous])


def number_twins(run_id: int) -> int:
    """Give the repeats of a digest in a FOCUS delivery their occurrence numbers: staged as
    ``<digest>:1``, the second identical row becomes ``<digest>:2`` and so on, in file order. The
    run's ids are grouped once (the (run, row id) index has them in order) and only the repeats are
    rewritten, so a file without twins writes nothing. Returns the number of rows renumbered."""
    qn = connection.ops.quote_name
    staging, row_id = qn(StagedCost._meta.db_table), qn("source_row_id")
    # Names come from model metadata, values are parameters. UPDATE … FROM: PostgreSQL, SQLite 3.33+.
    sql = (
        f"UPDATE {staging} SET {row_id} = substr({row_id}, 1, length({row_id}) - 2) || ':' || twins.n "  # noqa: S608
        f"FROM (SELECT {qn('id')} AS sid, ROW_NUMBER() OVER (PARTITION BY {row_id} ORDER BY {qn('id')}) AS n "
        f"FROM {staging} WHERE {qn('run_id')} = %s AND {row_id} IN (SELECT {row_id} FROM {staging} "
        f"WHERE {qn('run_id')} = %s GROUP BY {row_id} HAVING COUNT(*) > 1)) AS twins "
        f"WHERE {staging}.{qn('id')} = twins.sid AND twins.n > 1"
    )
    with connection.cursor() as cursor, _hash_joins(cursor):
        cursor.execute(sql, [run_id, run_id])
        renumbered: int = max(cursor.rowcount, 0)
        return renumbered


class Stager:
    """Writes a run's records to staging in committed batches and reports progress on the run row."""

    def __init__(self, run: SyncRun, connector: Any) -> None:
        self.run, self.connector = run, connector
        self.is_cost = run.source.kind in COST_KINDS
        self.table = (StagedCost if self.is_cost else StagedEval)._meta.db_table
        columns = COST_COLUMNS if self.is_cost else EVAL_COLUMNS
        self.sql = _insert_sql(self.table, columns)
        qn = connection.ops.quote_name
        self.copy_sql = f"COPY {qn(self.table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN"
        self.run_id, self.system_id, self.key = run.pk, run.source.system_id, run.source.key
        self.batch: list[tuple[Any, ...]] = []
        self.counts = Counts()
        # The billing periods this delivery covers, when it replaces them (FOCUS): every period a
        # row was read for, this system's or not.
        self.replaces = self.is_cost and getattr(connector, "replaces_billing_periods", False)
        self.periods: set[tuple[datetime, datetime]] = set()
        self.dates: dict[datetime, Any] = {}
        self.last_report = time.monotonic()

    def _when(self, moment: datetime) -> Any:
        adapted = self.dates.get(moment)
        if adapted is None:
            if len(self.dates) > 20000:
                self.dates.clear()
            adapted = self.dates[moment] = connection.ops.adapt_datetimefield_value(moment)
        return adapted

    def add(self, item: Any) -> None:
        counts = self.counts
        counts.read += 1
        if isinstance(item, EvalRecord | CostRow):
            problem = record_problem(item)
            if problem is not None:
                item = RowError(f"{item.run_id} {item.metric}" if isinstance(item, EvalRecord) else
                                f"charge {item.row_id[:12]}", problem)
        if isinstance(item, RowError):
            counts.skipped += 1
            if len(counts.errors) < MAX_ROW_ERRORS:
                # Row and reason may quote the input: escaped, so the report itself can be stored.
                counts.errors.append({"row": printable(item.where)[:300], "reason": printable(item.reason)[:1000]})
        elif isinstance(item, Ignored):
            counts.ignored += 1
            if self.replaces and item.period is not None:
                self.periods.add(item.period)
        elif isinstance(item, CostRow) and self.is_cost:
            counts.valid += 1
            if item.billing_period_start is not None and item.billing_period_end is not None:
                period = (item.billing_period_start, item.billing_period_end)
            else:
                period = month_of(item.period_start)
            row_id = item.row_id
            if self.replaces:
                self.periods.add(period)
                # The first occurrence of a digest; number_twins gives the repeats :2, :3, ...
                row_id += ":1"
            self.batch.append((
                self.run_id, self.system_id, self._when(item.period_start), self._when(item.period_end),
                item.billed_cost, item.effective_cost, item.currency, item.service, item.resource_id,
                item.charge_category, item.request_count, self._when(period[0]), self._when(period[1]),
                self.key, row_id,
            ))
        elif isinstance(item, EvalRecord) and not self.is_cost:
            if item.observed_at > timezone.now() + timedelta(minutes=5):
                counts.skipped += 1
                if len(counts.errors) < MAX_ROW_ERRORS:
                    counts.errors.append({"row": f"{item.run_id} {item.metric}", "reason": "observed in the future"})
                return
            counts.valid += 1
            self.batch.append((
                self.run_id, self.system_id, item.model_version, item.metric, item.value, item.dataset, item.step,
                self.key, item.run_id, self._when(item.observed_at),
            ))
        else:
            raise SourceError(f"the {self.run.source.kind} connector produced a {type(item).__name__}")
        if len(self.batch) >= settings.EVIDENCE_BATCH_ROWS or time.monotonic() - self.last_report > PROGRESS_EVERY_SECONDS:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        with transaction.atomic():
            self.write_batch()
            if final and self.replaces:
                number_twins(self.run_id)
            self.report()
        self.last_report = time.monotonic()

    def write_batch(self) -> None:
        if not self.batch:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY: PostgreSQL's bulk path, several times faster than a pipelined executemany.
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in self.batch:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, self.batch)
        self.batch = []

    def report(self) -> None:
        c = self.counts
        held = SyncRun.objects.filter(pk=self.run.pk, status=SyncStatus.RUNNING, attempts=self.run.attempts).update(
            rows_read=c.read, rows_skipped=c.skipped, rows_ignored=c.ignored, row_errors=c.errors,
            progress_done=self.connector.done, progress_total=self.connector.total,
        )
        if not held:
            # The lease passed and the run was taken back: roll this batch back with the report.
            raise LeaseLost(f"sync run {self.run.pk} is no longer this worker's")


def discard_staged(run_id: int) -> None:
    StagedEval.objects.filter(run_id=run_id).delete()
    StagedCost.objects.filter(run_id=run_id).delete()


def swap(run: SyncRun, is_cost: bool, now: datetime,
          periods: set[tuple[datetime, datetime]] | None = None) -> tuple[int, int]:
    """Move the run's staged rows into the evidence table; returns (rows new, rows removed).

    With ``periods`` (a FOCUS delivery) the delivery is the truth for those billing periods of its
    source, as FinOps tools treat a provider's export: each staged row's id is its digest numbered
    by occurrence (two identical rows are two charges), the source's rows of those periods that
    the delivery no longer has are deleted (restated or withdrawn charges), and rows it still has
    stay as they are, so a re-delivery of the same file changes nothing. The caller's transaction
    makes the delete and the insert one swap."""
    qn = connection.ops.quote_name
    staged, target, columns = (
        (StagedCost, CostRecord, COST_COLUMNS[1:]) if is_cost else (StagedEval, EvalResult, EVAL_COLUMNS[1:])
    )
    table, staging = qn(target._meta.db_table), qn(staged._meta.db_table)
    params_now = connection.ops.adapt_datetimefield_value(now)
    removed = 0
    # Names come from model metadata, values are parameters. The WHERE clauses also keep SQLite's
    # parser from reading ON CONFLICT as a join constraint.
    if periods is None:
        cols = ", ".join(qn(c) for c in columns)
        sql = (
            f"INSERT INTO {table} ({cols}, {qn('evidence_source_id')}, {qn('ingested_at')}) "  # noqa: S608
            f"SELECT {cols}, %s, %s FROM {staging} WHERE {qn('run_id')} = %s ORDER BY {qn('id')} "
            f"ON CONFLICT DO NOTHING"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [run.source_id, params_now, run.pk])
            added = cursor.rowcount
    else:
        # Staged FOCUS ids are already numbered (number_twins). The earlier rows of a period are
        # found by (source, billing period), each one's "still delivered?" by the staged (run, row
        # id) index or one hash of the run's staged ids (never a rescan per row: _hash_joins), the
        # inserts' conflicts by the natural key.
        cols = ", ".join(qn(c) for c in columns)
        in_period = (f"{qn('source')} = %s AND {qn('billing_period_start')} = %s "
                     f"AND {qn('billing_period_end')} = %s")
        with connection.cursor() as cursor:
            for start, end in sorted(periods):
                bounds = [connection.ops.adapt_datetimefield_value(start), connection.ops.adapt_datetimefield_value(end)]
                cursor.execute(f"SELECT 1 FROM {table} WHERE {in_period} LIMIT 1", [run.source.key, *bounds])  # noqa: S608
                if cursor.fetchone() is None:
                    continue  # a first delivery of this period: nothing to replace
                with _hash_joins(cursor):
                    cursor.execute(
                        f"DELETE FROM {table} WHERE {in_period} AND NOT EXISTS (SELECT 1 FROM {staging} s "  # noqa: S608
                        f"WHERE s.{qn('run_id')} = %s AND s.{qn('source_row_id')} = {table}.{qn('source_row_id')})",
                        [run.source.key, *bounds, run.pk],
                    )
                    removed += max(cursor.rowcount, 0)
            # In the ids' order: the natural key's index is then filled (or probed, for rows
            # already there) front to back instead of at random places.
            cursor.execute(
                f"INSERT INTO {table} ({cols}, {qn('evidence_source_id')}, {qn('ingested_at')}) "  # noqa: S608
                f"SELECT {cols}, %s, %s FROM {staging} WHERE {qn('run_id')} = %s ORDER BY {qn('source_row_id')} "
                f"ON CONFLICT DO NOTHING",
                [run.source_id, params_now, run.pk],
            )
            added = cursor.rowcount
    staged.objects.filter(run_id=run.pk).delete()
    return max(added, 0), removed
