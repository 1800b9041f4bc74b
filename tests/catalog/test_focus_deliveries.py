"""A FOCUS delivery is the truth for its billing periods and source: every row is a charge (two
identical rows are two), a restated file replaces the figures it restates, a re-delivery of the
same file changes nothing, and a file without BillingCurrency needs the source's default currency.
Real files from the FOCUS repository where they show the case, small written files otherwise."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from catalog.models import CostRecord, EvidenceSource, StagedCost, SyncRun
from catalog.services.evidence import source_create, source_update, sync_request, sync_run_execute
from clearance.errors import DomainError
from clearance.models import AuditEvent, OutboxMessage
from tests.catalog.evidence_helpers import copy_sample, make_system

pytestmark = pytest.mark.django_db

HEADER = "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,ResourceId,Tags"


@pytest.fixture
def allowed(tmp_path, settings):
    settings.EVIDENCE_ALLOWED_DIRS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def system(personas):
    return make_system(personas)


def focus_source(system, personas, path, **options) -> EvidenceSource:
    return source_create(actor=personas["owner"], system=system, kind="focus", name="cloud bill",
                         location=str(path), **options)


def deliver(src: EvidenceSource, path, rows: list[str], header: str = HEADER) -> SyncRun:
    path.write_text("\n".join([header, *rows]) + "\n")
    run, created = sync_request(actor=None, source=src)
    assert created
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def spent(system, **filters) -> Decimal:
    return CostRecord.objects.filter(system=system, **filters).aggregate(s=Sum("effective_cost"))["s"] or Decimal(0)


def usage(day: int, cost: str, resource: str = "", month: int = 1, tags: str = "") -> str:
    return (f"{cost},{cost},USD,2026-{month:02d}-{day:02d}T00:00:00Z,2026-{month:02d}-{day + 1:02d}T00:00:00Z,"
            f"LLM,{resource},{tags}")


def test_two_identical_rows_are_two_charges(allowed, system, personas):
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    # Two deployments billed the same amount for the same day; the export names no resource.
    run = deliver(src, path, [usage(1, "1.00"), usage(1, "1.00")])
    assert (run.status, run.rows_read, run.rows_added, run.rows_duplicate) == ("succeeded", 2, 2, 0)
    assert spent(system) == Decimal("2.00")


def test_a_re_delivery_of_the_same_file_changes_nothing(allowed, system, personas):
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    rows = [usage(1, "1.00"), usage(1, "1.00"), usage(2, "3.50", "r2")]
    first = deliver(src, path, rows)
    before = list(CostRecord.objects.order_by("pk").values_list("pk", "source_row_id", "effective_cost", "ingested_at"))
    audits = AuditEvent.objects.filter(action="evidence_source.synced").count()
    outbox = OutboxMessage.objects.filter(task_name="governance.recompute_readiness").count()
    again = deliver(src, path, rows)
    assert (first.rows_added, again.rows_added, again.rows_duplicate, again.rows_removed) == (3, 0, 3, 0)
    after = list(CostRecord.objects.order_by("pk").values_list("pk", "source_row_id", "effective_cost", "ingested_at"))
    assert after == before, "the same rows, not deleted and inserted again"
    assert spent(system) == Decimal("5.50")
    assert AuditEvent.objects.filter(action="evidence_source.synced").count() == audits, "nothing to audit"
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness").count() == outbox


def test_a_restated_file_replaces_the_figures_of_its_period(allowed, system, personas):
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    deliver(src, path, [usage(1, "1.00", "r1"), usage(2, "2.00", "r2"), usage(3, "4.00", "r3"),
                        usage(1, "7.00", "r1", month=2)])
    assert spent(system) == Decimal("14.00")
    # The provider restates January: r1 is credited down, r3 is withdrawn, r4 appears late.
    run = deliver(src, path, [usage(1, "0.60", "r1"), usage(2, "2.00", "r2"), usage(4, "0.25", "r4")])
    assert (run.status, run.rows_added, run.rows_duplicate, run.rows_removed) == ("succeeded", 2, 1, 2)
    assert spent(system, period_start__month=1) == Decimal("2.85")
    assert spent(system, period_start__month=2) == Decimal("7.00"), "February was not in the delivery: untouched"
    event = AuditEvent.objects.filter(action="evidence_source.synced").latest("pk")
    assert event.data["removed"] == 2 and event.data["added"] == 2
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness",
                                        kwargs__system_id=system.pk).exists()


def test_dropping_one_of_two_identical_rows_removes_one_charge(allowed, system, personas):
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    deliver(src, path, [usage(1, "1.00"), usage(1, "1.00"), usage(1, "1.00")])
    run = deliver(src, path, [usage(1, "1.00"), usage(1, "1.00")])
    assert (run.rows_added, run.rows_duplicate, run.rows_removed) == (0, 2, 1)
    assert spent(system) == Decimal("2.00")


def test_the_real_saas_export_restated_replaces_its_billing_period(allowed, system, personas):
    """The FOCUS SaaS example carries BillingPeriodStart/End (April 2025); a copy with one amount
    changed is the same billing period restated."""
    path = copy_sample("focus/virtual_currency_pricing_model_a2.csv", allowed)
    src = focus_source(system, personas, path)
    run, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=run.pk)
    assert spent(system) == Decimal("1230.00")
    periods = set(CostRecord.objects.values_list("billing_period_start", "billing_period_end"))
    assert [(s.date().isoformat(), e.date().isoformat()) for s, e in periods] == [("2025-04-01", "2025-05-01")]
    original = path.read_bytes()
    path.write_bytes(original.replace(b",720.00,ACMECORP,720.00,", b",700.00,ACMECORP,700.00,")
                     .replace(b",20.00,4,20.00,ACMECORP,", b",20.00,4,10.00,ACMECORP,"))
    restated, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=restated.pk)
    restated.refresh_from_db()
    assert (restated.status, restated.rows_added, restated.rows_duplicate, restated.rows_removed) == (
        "succeeded", 2, 1, 2)
    assert spent(system) == Decimal("1200.00"), "490 + 10 + 700: the restated figures, not the first ones"
    path.write_bytes(original)
    back, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=back.pk)
    assert spent(system) == Decimal("1230.00") and CostRecord.objects.count() == 3


def test_a_shared_file_is_the_truth_for_every_system_in_it(allowed, personas):
    """Each system's source reads the same export through its tag; a period restated with no row
    left for a system leaves that system nothing for the period."""
    path = allowed / "bill.csv"
    copilot = make_system(personas, "support-copilot")
    other = make_system(personas, "invoice-extractor")
    a = focus_source(copilot, personas, path, tag_key="ai_system")
    b = focus_source(other, personas, path, tag_key="ai_system")
    tag = '"{""ai_system"": ""%s""}"'
    rows = [usage(1, "1.00", "r1", tags=tag % "support-copilot"), usage(1, "5.00", "r2", tags=tag % "invoice-extractor")]
    deliver(a, path, rows)
    deliver(b, path, rows)
    assert (spent(copilot), spent(other)) == (Decimal("1.00"), Decimal("5.00"))
    # January restated: the copilot's charge moved to the extractor.
    restated = [usage(1, "6.00", "r2", tags=tag % "invoice-extractor")]
    run = deliver(a, path, restated)
    assert (run.status, run.rows_ignored, run.rows_removed) == ("succeeded", 1, 1)
    deliver(b, path, restated)
    assert (spent(copilot), spent(other)) == (Decimal(0), Decimal("6.00"))


def test_the_swap_is_all_or_nothing(allowed, system, personas, monkeypatch):
    """The delete of restated rows and the insert of the new ones are one transaction: a failure
    after both leaves the earlier figures exactly as they were."""
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    deliver(src, path, [usage(1, "1.00", "r1"), usage(2, "2.00", "r2")])
    before = list(CostRecord.objects.order_by("pk").values_list("pk", "effective_cost"))

    from catalog.services import evidence

    original = evidence.swap

    def swap_then_fail(*args, **kwargs):
        added, removed = original(*args, **kwargs)
        assert (added, removed) == (1, 1)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(evidence, "swap", swap_then_fail)
    run = deliver(src, path, [usage(1, "9.00", "r1"), usage(2, "2.00", "r2")])
    assert run.status == "failed" and "the database went away" in run.error
    assert list(CostRecord.objects.order_by("pk").values_list("pk", "effective_cost")) == before
    assert not StagedCost.objects.exists()


def test_a_file_without_billing_currency_names_the_column_or_uses_the_default(allowed, system, personas):
    # The commitment-discount scenario in the FOCUS repository has no BillingCurrency column.
    path = copy_sample("focus/commitment_discount_usage_scenario_1.csv", allowed)
    src = focus_source(system, personas, path)
    run, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "missing required FOCUS column(s): BillingCurrency (or set the source's default currency)" in run.error
    assert not CostRecord.objects.exists()

    source_update(actor=personas["owner"], source=src, default_currency="usd")
    src.refresh_from_db()
    assert src.default_currency == "USD"
    run, _ = sync_request(actor=None, source=src)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.rows_added) == ("succeeded", 1)
    record = CostRecord.objects.get(system=system)
    assert (record.currency, record.effective_cost, record.billed_cost) == ("USD", Decimal("1.00"), Decimal("0.00"))


def test_a_blank_billing_currency_cell_takes_the_default_only_when_set(allowed, system, personas):
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    run = deliver(src, path, ["1.00,1.00,,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r1,",
                              usage(2, "2.00", "r2")])
    assert run.row_errors == [{"row": "row 2", "reason": "BillingCurrency: '' is not an ISO 4217 code"}]
    source_update(actor=personas["owner"], source=src, default_currency="EUR")
    run = deliver(src, path, ["1.00,1.00,,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,LLM,r1,",
                              usage(2, "2.00", "r2")])
    assert run.rows_skipped == 0
    assert sorted(CostRecord.objects.values_list("currency", flat=True)) == ["EUR", "USD"]


@pytest.mark.parametrize("value", ["US", "DOLLARS", "12", "€€€"])
def test_a_default_currency_must_be_a_currency_code(allowed, system, personas, value):
    with pytest.raises(DomainError, match="three-letter ISO 4217 code") as raised:
        focus_source(system, personas, allowed / "bill.csv", default_currency=value)
    assert raised.value.field == "default_currency"
    assert not EvidenceSource.objects.exists()


def test_the_source_form_names_a_bad_default_currency(client, allowed, system, personas):
    client.force_login(personas["owner"])
    response = client.post(f"/systems/{system.slug}/evidence/sources/new/", {
        "name": "bill", "kind": "focus", "location": str(allowed / "bill.csv"), "auth_kind": "none",
        "default_currency": "dollars", "model_version_key": "model_version", "dataset_key": "dataset",
    })
    assert response.status_code == 200
    assert not EvidenceSource.objects.exists()
    assert "default_currency" in response.context["form"].errors


def _month_of_usage(rows: int, *, month: int, restated: bool = False, late: int = 0) -> list[str]:
    """A month of hourly usage for 100 deployments, one charge in 50 billed twice verbatim (two
    resources, same amount). Restated: one amount in ten credited down; ``late`` new charges."""
    lines: list[str] = []
    i = 0
    while len(lines) < rows:
        hour, resource = divmod(i, 100)
        cents = 100 + (i * 7919) % 900
        if restated and i % 10 == 0:
            cents -= 7
        line = (f"{cents / 100:.2f},{cents / 100:.2f},USD,2026-{month:02d}-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z,"
                f"2026-{month:02d}-{1 + hour // 24:02d}T{hour % 24:02d}:59:59Z,LLM,deploy-{resource},")
        lines += [line] * min(2 if i % 50 == 0 else 1, rows - len(lines))
        i += 1
    return lines + [f"0.05,0.05,USD,2026-{month:02d}-28T00:00:00Z,2026-{month:02d}-28T01:00:00Z,LLM,late-{n},"
                    for n in range(late)]


def _total(lines: list[str]) -> Decimal:
    return sum((Decimal(line.split(",", 2)[1]) for line in lines), Decimal(0))


def test_a_large_re_delivery_counts_every_charge_once(allowed, system, personas):
    """5,000 charges a month over two months, delivered, delivered again, then January restated:
    the totals and counts are those of the files, charge for charge (the speed is bench/focus_redelivery.py's)."""
    from collections import Counter

    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    january, february = _month_of_usage(5000, month=1), _month_of_usage(5000, month=2)
    first = deliver(src, path, january + february)
    assert (first.status, first.rows_read, first.rows_added, first.rows_removed) == ("succeeded", 10000, 10000, 0)
    assert CostRecord.objects.count() == 10000
    assert spent(system) == _total(january) + _total(february)
    twins = CostRecord.objects.filter(source_row_id__endswith=":2").count()
    assert twins == 2 * len([i for i in range(0, 4950, 50)]), "every twin charge is its own record"

    before = list(CostRecord.objects.order_by("pk").values_list("pk", "source_row_id", "effective_cost", "ingested_at"))
    again = deliver(src, path, january + february)
    assert (again.status, again.rows_added, again.rows_duplicate, again.rows_removed) == ("succeeded", 0, 10000, 0)
    assert list(CostRecord.objects.order_by("pk").values_list(
        "pk", "source_row_id", "effective_cost", "ingested_at")) == before, "nothing rewritten"

    # January restated: one amount in ten credited, the last 1% withdrawn (a twin's second copy
    # among them when it falls there), 25 late charges; February is not in the file.
    restated = _month_of_usage(4950, month=1, restated=True, late=25)
    old, new = Counter(january), Counter(restated)
    run = deliver(src, path, restated)
    assert run.status == "succeeded", run.error
    assert run.rows_removed == sum((old - new).values()) and run.rows_added == sum((new - old).values())
    assert run.rows_duplicate == len(restated) - run.rows_added
    assert spent(system, period_start__month=1) == _total(restated)
    assert spent(system, period_start__month=2) == _total(february), "February untouched"
    assert CostRecord.objects.count() == len(restated) + len(february)
    assert not StagedCost.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans of PostgreSQL's planner")
def test_the_swap_never_rescans_staging_per_row(allowed, system, personas):
    """With the statistics of an empty staging table (what autovacuum may leave between runs), the
    planner believes staging holds a row; numbering the twins and deleting restated rows must still
    not rescan staging, or a subquery over it, for each row (that plan took minutes for 3,000 rows)."""
    path = allowed / "bill.csv"
    src = focus_source(system, personas, path)
    deliver(src, path, _month_of_usage(3000, month=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_stagedcost")  # empty now: the stale statistics a run finds
        cursor.execute("SET LOCAL statement_timeout = '60s'")  # a bad plan fails instead of hanging
    plans: dict[str, str] = {}

    def explain(execute, sql, params, many, context):
        for statement in ('UPDATE "catalog_stagedcost"', 'DELETE FROM "catalog_costrecord"'):
            if sql.startswith(statement):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN " + sql, params)
                    plans[statement] = "\n".join(row[0] for row in cursor.fetchall())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        run = deliver(src, path, _month_of_usage(2990, month=1, restated=True))
    assert run.status == "succeeded" and run.rows_removed > 0, run.error
    assert len(plans) == 2, plans
    for statement, plan in plans.items():
        assert "Nested Loop" not in plan, f"{statement}:\n{plan}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_nestloop")
        assert cursor.fetchone()[0] == "on", "the setting is put back after each statement"
