"""Migration 0005 (the key id) on a database holding events written before keying: they keep their
hashes and still verify, and the chain goes on keyed after them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from clearance.audit import GENESIS_HASH, audit_record, verify_chain
from clearance.models import AuditEvent

BEFORE = ("clearance", "0004_outbox_completion_and_leases")


def old_hash(fields: dict[str, object]) -> str:
    """What the code before keying stored: SHA-256 of the canonical JSON, no key."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _migrate(target: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor


@pytest.mark.django_db(transaction=True)
def test_events_written_before_keying_keep_verifying_across_the_migration(personas):
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        # migrate recorded the policy activation under the embedded key: start from an empty chain.
        cursor.execute("DELETE FROM clearance_auditevent")
        cursor.execute("UPDATE clearance_audithead SET seq = 0, hash = %s", [GENESIS_HASH])
    executor = _migrate([BEFORE])
    try:
        old_apps = executor.loader.project_state([BEFORE]).apps
        OldEvent = old_apps.get_model("clearance", "AuditEvent")
        OldHead = old_apps.get_model("clearance", "AuditHead")
        assert "key_id" not in {f.name for f in OldEvent._meta.get_fields()}
        prev = GENESIS_HASH
        start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        for seq in range(1, 4):
            moment = start + timedelta(minutes=seq)
            fields = {"seq": seq, "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor_id": None,
                      "actor_repr": "system", "action": f"legacy.{seq}", "object_type": "auth.user",
                      "object_id": str(personas["lead"].pk), "object_repr": "lead", "data": {"n": seq},
                      "prev_hash": prev}
            digest = old_hash(fields)
            OldEvent.objects.create(**{**fields, "occurred_at": moment}, hash=digest)
            prev = digest
        OldHead.objects.update_or_create(pk=1, defaults={"seq": 3, "hash": prev})
    finally:
        executor = _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    legacy = list(AuditEvent.objects.order_by("seq").values_list("seq", "key_id", "hash"))
    assert [(seq, key_id) for seq, key_id, _ in legacy] == [(1, ""), (2, ""), (3, "")]
    assert legacy[-1][2] == prev
    report = verify_chain()
    assert report.ok and (report.legacy, report.keyed) == (3, 0)

    event = audit_record(actor=personas["lead"], action="keyed.after.migration", obj=personas["owner"])
    assert event.seq == 4 and event.key_id and event.prev_hash == prev
    report = verify_chain()
    assert report.ok and (report.checked, report.legacy, report.keyed) == (4, 3, 1)
