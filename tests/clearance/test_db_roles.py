"""The runtime database role: owns nothing, cannot switch the audit table's guards off, cannot change
or remove audit rows, and still runs the app's normal path (an audited write, a checkpoint).

PostgreSQL only: SQLite has no roles. The role is created in the test cluster, given exactly what
``manage.py db_roles`` generates, and used over its own connection (psycopg, 127.0.0.1, trust auth).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clearance.audit import audit_record, verify_chain
from clearance.checkpoints import verify_checkpoints, write_checkpoint
from clearance.dbroles import app_tables, runtime_grants
from clearance.models import AuditEvent, AuditHead

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles and GRANTs exist on PostgreSQL only"),
]


def _drop(cursor: Any, role: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone():
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def bare_role() -> Iterator[str]:
    """A login role with no privileges yet. Roles are cluster-wide: it is named after this test
    database so parallel runs do not collide."""
    role = re.sub(r"[^a-z0-9_]", "_", f"{connection.settings_dict['NAME']}_runtime".lower())[:63]
    with connection.cursor() as cursor:
        _drop(cursor, role)
        cursor.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS')
    try:
        yield role
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
                [role],
            )
            _drop(cursor, role)


@pytest.fixture
def runtime_role(bare_role: str) -> str:
    call_command("db_roles", "--apply", "--role", bare_role)
    return bare_role


def runtime_connect(role: str) -> psycopg.Connection[Any]:
    db = connection.settings_dict
    return psycopg.connect(host="127.0.0.1", port=int(db["PORT"] or 5432), dbname=db["NAME"], user=role,
                           autocommit=True)


REFUSED = [
    ("disable every trigger", "ALTER TABLE clearance_auditevent DISABLE TRIGGER ALL", "must be owner"),
    ("disable the append-only trigger",
     "ALTER TABLE clearance_auditevent DISABLE TRIGGER clearance_audit_no_update_delete", "must be owner"),
    ("drop the append-only trigger", "DROP TRIGGER clearance_audit_no_update_delete ON clearance_auditevent",
     "must be owner"),
    ("truncate", "TRUNCATE clearance_auditevent", "permission denied"),
    ("update", "UPDATE clearance_auditevent SET action = 'forged'", "permission denied"),
    ("delete", "DELETE FROM clearance_auditevent", "permission denied"),
    ("switch triggers off for the session", "SET session_replication_role = replica", "permission denied"),
    ("create a table", "CREATE TABLE clearance_sneak (id int)", "permission denied"),
]


def test_runtime_role_cannot_rewrite_the_audit_table_but_runs_the_normal_path(runtime_role, personas):
    audit_record(actor=personas["lead"], action="test.before", obj=personas["owner"])
    before = list(AuditEvent.objects.order_by("seq").values_list("seq", "hash", "action"))
    refused: list[str] = []
    with runtime_connect(runtime_role) as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
            assert cursor.fetchone() == (runtime_role, False)
            # It reads the audit table and may write the app's other tables.
            cursor.execute("SELECT count(*) FROM clearance_auditevent")
            assert cursor.fetchone()[0] == len(before)
        for what, sql, message in REFUSED:
            with conn.cursor() as cursor, pytest.raises(psycopg.errors.InsufficientPrivilege, match=message):
                cursor.execute(sql)
            refused.append(what)
    assert refused == [what for what, _, _ in REFUSED]
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "hash", "action")) == before

    # The app's own path, connected as the runtime role: an audited write (locks and moves the head,
    # inserts the event) and a checkpoint over the chain.
    owner = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = runtime_role
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == runtime_role
        event = audit_record(actor=personas["lead"], action="test.as.runtime", obj=personas["owner"])
        assert verify_chain().ok
        assert write_checkpoint().seq == event.seq
        assert verify_checkpoints().ok
    finally:
        connection.close()
        connection.settings_dict["USER"] = owner
    assert AuditHead.objects.get().seq == event.seq
    assert AuditEvent.objects.get(seq=event.seq).action == "test.as.runtime"
    call_command("db_roles", "--check", "--role", runtime_role)


def test_db_roles_check_names_a_role_that_owns_something(runtime_role):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE clearance_owned_by_runtime (id int); ALTER TABLE clearance_owned_by_runtime OWNER TO "{runtime_role}"')
    try:
        with pytest.raises(CommandError, match=f"role {runtime_role} owns clearance_owned_by_runtime"):
            call_command("db_roles", "--check", "--role", runtime_role)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE clearance_owned_by_runtime")


def test_generated_grants_cover_every_table_and_keep_the_audit_table_append_only():
    statements = runtime_grants("clearance_app")
    granted = {m.group(2): m.group(1) for m in
               (re.match(r'GRANT (.+) ON TABLE "(\w+)" TO', s) for s in statements) if m}
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    assert set(app_tables()) <= existing
    assert existing - set(granted) == set(), "a table the runtime role cannot reach"
    assert granted["clearance_auditevent"] == "SELECT, INSERT"
    assert granted["django_migrations"] == "SELECT"
    assert granted["clearance_audithead"] == "SELECT, INSERT, UPDATE, DELETE"
    assert not any("TRUNCATE" in s or "TRIGGER" in s or "REFERENCES" in s for s in statements)


def test_migrate_grants_the_runtime_role_its_privileges(bare_role, settings):
    with runtime_connect(bare_role) as conn, conn.cursor() as cursor:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cursor.execute("SELECT count(*) FROM clearance_auditevent")
    settings.DB_RUNTIME_ROLE = bare_role
    call_command("migrate", verbosity=0)
    with runtime_connect(bare_role) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM clearance_auditevent")
        cursor.execute("SELECT count(*) FROM catalog_aisystem")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cursor.execute("DELETE FROM clearance_auditevent")
