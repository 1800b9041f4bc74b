"""Database triggers that make a published model card immutable, whatever path the write takes.

The services refuse first with a clear message; these triggers are the floor under them: a raw
``UPDATE``/``DELETE`` (ORM ``.update()``, ``.delete()``, admin, SQL shell) of a published row fails
with an integrity error on PostgreSQL and on SQLite. Migrations install them; the test suite's
table flush on SQLite drops and restores them around the flush (see tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

MESSAGE = "catalog_modelcard: a published model card is immutable"

GUARDS: dict[str, tuple[list[str], list[str]]] = {
    "postgresql": (
        [
            f"""CREATE OR REPLACE FUNCTION catalog_modelcard_published_guard() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'published' THEN
        RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql""",
            """CREATE TRIGGER catalog_modelcard_published_guard BEFORE UPDATE OR DELETE ON catalog_modelcard
    FOR EACH ROW EXECUTE FUNCTION catalog_modelcard_published_guard()""",
        ],
        [
            "DROP TRIGGER IF EXISTS catalog_modelcard_published_guard ON catalog_modelcard",
            "DROP FUNCTION IF EXISTS catalog_modelcard_published_guard()",
        ],
    ),
    "sqlite": (
        [
            f"""CREATE TRIGGER catalog_modelcard_published_no_update BEFORE UPDATE ON catalog_modelcard
FOR EACH ROW WHEN OLD.status = 'published'
BEGIN SELECT RAISE(ABORT, '{MESSAGE} (UPDATE refused)'); END""",
            f"""CREATE TRIGGER catalog_modelcard_published_no_delete BEFORE DELETE ON catalog_modelcard
FOR EACH ROW WHEN OLD.status = 'published'
BEGIN SELECT RAISE(ABORT, '{MESSAGE} (DELETE refused)'); END""",
        ],
        [
            "DROP TRIGGER IF EXISTS catalog_modelcard_published_no_update",
            "DROP TRIGGER IF EXISTS catalog_modelcard_published_no_delete",
        ],
    ),
}


Guards = dict[str, tuple[list[str], list[str]]]


def install(schema_editor: Any, guards: Guards) -> None:
    for statement in guards.get(schema_editor.connection.vendor, ([], []))[0]:
        schema_editor.execute(statement, params=None)


def uninstall(schema_editor: Any, guards: Guards) -> None:
    for statement in guards.get(schema_editor.connection.vendor, ([], []))[1]:
        schema_editor.execute(statement, params=None)


def run_on(cursor: Any, vendor: str, guards: Guards, *, create: bool) -> None:
    """Install or drop guards through a plain cursor (the test flush uses this)."""
    for statement in guards.get(vendor, ([], []))[0 if create else 1]:
        cursor.execute(statement)
