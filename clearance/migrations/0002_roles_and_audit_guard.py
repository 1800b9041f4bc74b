"""Roles as groups, the audit chain's head row, and (on PostgreSQL) a trigger that makes the audit
table append-only: UPDATE, DELETE and TRUNCATE are refused.

Only a superuser session with session_replication_role = replica skips the trigger (PostgreSQL does
not fire ordinary triggers then); the test suite's table flush uses that, nothing in the app does.
"""

from django.db import migrations

ROLES = [
    "requester",
    "governance-lead",
    "security-reviewer",
    "legal-reviewer",
    "privacy-reviewer",
    "system-owner",
    "auditor",
    "admin",
]

GUARD_SQL = """
CREATE OR REPLACE FUNCTION clearance_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'clearance_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clearance_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON clearance_auditevent
    FOR EACH ROW EXECUTE FUNCTION clearance_audit_append_only();

CREATE TRIGGER clearance_audit_no_truncate
    BEFORE TRUNCATE ON clearance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION clearance_audit_append_only();
"""

UNGUARD_SQL = """
DROP TRIGGER IF EXISTS clearance_audit_no_update_delete ON clearance_auditevent;
DROP TRIGGER IF EXISTS clearance_audit_no_truncate ON clearance_auditevent;
DROP FUNCTION IF EXISTS clearance_audit_append_only();
"""


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    AuditHead = apps.get_model("clearance", "AuditHead")
    AuditHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD_SQL, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("clearance", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
