from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from clearance.audit import audit_record, verify_chain
from clearance.models import AuditEvent, AuditHead

pytestmark = pytest.mark.django_db


def test_every_transition_of_the_path_is_chained_and_verifies(request_in_review):
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"request.draft_created", "request.submitted", "request.triage", "request.tier_confirmed",
            "request.owners_assigned", "system.created", "request.system_created", "review.opened",
            "request.in_review"} <= actions
    report = verify_chain()
    assert report.ok and report.checked == AuditEvent.objects.count()
    call_command("audit_verify")


def test_an_event_is_rolled_back_with_the_change_it_records(personas):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=personas["lead"], action="test.action", obj=personas["lead"])
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == before
    assert verify_chain().ok


def _tamper(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The append-only trigger refuses this; a superuser can switch triggers off, which is
            # exactly the tampering the chain exists to reveal.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def test_a_changed_event_is_named_by_the_verifier(request_in_review):
    victim = AuditEvent.objects.order_by("seq")[2]
    _tamper("UPDATE clearance_auditevent SET object_repr = %s WHERE id = %s", ["forged", victim.pk])
    report = verify_chain()
    assert not report.ok and report.first_broken_seq == victim.seq and "changed" in report.problem
    with pytest.raises(CommandError, match=f"#{victim.seq}"):
        call_command("audit_verify")


def test_a_deleted_event_is_named_by_the_verifier(request_in_review):
    victim = AuditEvent.objects.order_by("seq")[3]
    _tamper("DELETE FROM clearance_auditevent WHERE id = %s", [victim.pk])
    report = verify_chain()
    assert not report.ok and report.first_broken_seq == victim.seq and "missing" in report.problem


def test_a_deleted_tail_is_caught_by_the_head(request_in_review):
    last = AuditEvent.objects.order_by("-seq").first()
    _tamper("DELETE FROM clearance_auditevent WHERE id = %s", [last.pk])
    report = verify_chain()
    assert not report.ok and "removed" in report.problem


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only")
def test_postgres_refuses_update_delete_and_truncate_of_the_audit_table(request_in_review):
    from django.db import DatabaseError

    with connection.cursor() as cursor:
        # Fire the deferred foreign-key checks of this test's inserts now, or PostgreSQL refuses
        # the TRUNCATE for that reason before our trigger gets to say why.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for sql in ("UPDATE clearance_auditevent SET action = 'x'", "DELETE FROM clearance_auditevent",
                "TRUNCATE clearance_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(personas):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers by its file lock; the row lock is exercised on PostgreSQL")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    audit_record(actor=None, action=f"test.concurrent.{n}.{i}", obj=personas["lead"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = verify_chain()
    assert report.ok and AuditHead.objects.get().seq == report.checked
    assert AuditEvent.objects.filter(action__startswith="test.concurrent").count() == 40


@pytest.mark.django_db(transaction=True)
def test_verifying_while_events_are_appended_reports_no_false_break(personas):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers; SQLite serializes them by its file lock")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                audit_record(actor=None, action="test.live", obj=personas["lead"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        reports = [verify_chain() for _ in range(15)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert [r.problem for r in reports if not r.ok] == []
    assert reports[-1].checked > reports[0].checked  # the chain did grow while it was verified
