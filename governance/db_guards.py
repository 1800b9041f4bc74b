"""Database triggers that protect decided decision records (PostgreSQL and SQLite).

An accepted, rejected or superseded record is never rewritten or deleted. The one change the
database lets through is the status of an accepted record moving to superseded with every other
column unchanged, which is what ``decision_record_decide`` does when a newer record replaces it.
"""

from __future__ import annotations

MESSAGE = "governance_decisionrecord: a decided decision record is immutable"
# Every column but status; the SQLite trigger must list them (PostgreSQL compares whole rows).
COLUMNS = ("id", "system_id", "title", "context", "options", "decision", "consequences", "supersedes_id",
           "request_id", "facts_snapshot", "created_by_id", "created_at", "decided_at")

_unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in COLUMNS)

GUARDS: dict[str, tuple[list[str], list[str]]] = {
    "postgresql": (
        [
            f"""CREATE OR REPLACE FUNCTION governance_decisionrecord_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'proposed' THEN
            RAISE EXCEPTION '{MESSAGE} (DELETE refused)' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'proposed' AND NOT (
        OLD.status = 'accepted' AND NEW.status = 'superseded'
        AND (to_jsonb(NEW) - 'status') = (to_jsonb(OLD) - 'status')
    ) THEN
        RAISE EXCEPTION '{MESSAGE} (UPDATE refused)' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql""",
            """CREATE TRIGGER governance_decisionrecord_guard BEFORE UPDATE OR DELETE ON governance_decisionrecord
    FOR EACH ROW EXECUTE FUNCTION governance_decisionrecord_guard()""",
        ],
        [
            "DROP TRIGGER IF EXISTS governance_decisionrecord_guard ON governance_decisionrecord",
            "DROP FUNCTION IF EXISTS governance_decisionrecord_guard()",
        ],
    ),
    "sqlite": (
        [
            f"""CREATE TRIGGER governance_decisionrecord_no_update BEFORE UPDATE ON governance_decisionrecord
FOR EACH ROW WHEN OLD.status <> 'proposed'
    AND NOT (OLD.status = 'accepted' AND NEW.status = 'superseded' AND {_unchanged})
BEGIN SELECT RAISE(ABORT, '{MESSAGE} (UPDATE refused)'); END""",
            f"""CREATE TRIGGER governance_decisionrecord_no_delete BEFORE DELETE ON governance_decisionrecord
FOR EACH ROW WHEN OLD.status <> 'proposed'
BEGIN SELECT RAISE(ABORT, '{MESSAGE} (DELETE refused)'); END""",
        ],
        [
            "DROP TRIGGER IF EXISTS governance_decisionrecord_no_update",
            "DROP TRIGGER IF EXISTS governance_decisionrecord_no_delete",
        ],
    ),
}
