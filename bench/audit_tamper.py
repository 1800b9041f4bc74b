"""Audit tamper cases: what a table owner can do to the record, and whether `audit_verify` names it.

    uv run python bench/audit_tamper.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/audit_tamper.py

Migrates a throwaway database (a temp SQLite file unless DATABASE_URL is set; that database must be
disposable) and, for each case, writes a 12-event chain, tampers with it as the owner would
(triggers off, rows rewritten, hashes recomputed with the public function, the head row moved) and
runs the verifier, all inside a transaction that is rolled back. Two columns:

  before: the chain as it was before keying (no key id, plain SHA-256) and the verifier of that
          time (the chain and its head row, no checkpoint);
  after:  a keyed chain (HMAC-SHA256, key id k1) with a signed checkpoint written after it, as beat
          does, verified like `manage.py audit_verify` (chain, head, every checkpoint).

Prints one row per case and the counts tried / detected. Cases that need a key id or a checkpoint
file have no "before" (n/a). The runtime role's refusals are in tests/clearance/test_db_roles.py.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")

import django  # noqa: E402

django.setup()

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from clearance.audit import GENESIS_HASH, audit_record, compute_hash, verify_chain  # noqa: E402
from clearance.checkpoints import signing_message, verify_checkpoints, write_checkpoint  # noqa: E402
from clearance.keyring import key_fingerprint  # noqa: E402
from clearance.models import AuditEvent, AuditHead  # noqa: E402

EVENTS = 12
KEY = b"bench-audit-key-" + b"k" * 40


class Rollback(Exception):
    pass


def owner_session() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")


def fields_of(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "occurred_at": event.occurred_at, "actor_id": event.actor_id,
            "actor_repr": event.actor_repr, "action": event.action, "object_type": event.object_type,
            "object_id": event.object_id, "object_repr": event.object_repr, "data": event.data}


Hasher = Callable[[dict[str, Any], str, str], tuple[str, str]]


def plain(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    return compute_hash(**fields, prev_hash=prev, key_id=""), key_id


def unkeyed(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    return compute_hash(**fields, prev_hash=prev, key_id=""), ""


def guessed_key(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    return compute_hash(**fields, prev_hash=prev, key_id=key_id, keys={key_id: b"guess-" + b"g" * 40}), key_id


def own_key(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    return compute_hash(**fields, prev_hash=prev, key_id="k9", keys={"k9": b"mine-" + b"m" * 40}), "k9"


def rewrite_from(seq: int, hasher: Hasher | None) -> None:
    """Change event ``seq``'s payload; with a hasher, recompute it and every later hash and link,
    and move the head: every link stays consistent."""
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else GENESIS_HASH
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        fields = fields_of(event)
        if event.seq == seq:
            fields["data"] = {**fields["data"], "note": "rewritten"}
        if hasher is None:
            AuditEvent.objects.filter(pk=event.pk).update(data=fields["data"])
            return
        digest, key_id = hasher(fields, prev, event.key_id)
        AuditEvent.objects.filter(pk=event.pk).update(data=fields["data"], prev_hash=prev, hash=digest, key_id=key_id)
        prev = digest
    AuditHead.objects.filter(pk=1).update(hash=prev)


def delete_event(seq: int) -> None:
    AuditEvent.objects.filter(seq=seq).delete()


def cut_tail(n: int, *, roll_back_head: bool) -> None:
    keep = EVENTS - n
    AuditEvent.objects.filter(seq__gt=keep).delete()
    if roll_back_head:
        AuditHead.objects.filter(pk=1).update(seq=keep, hash=AuditEvent.objects.get(seq=keep).hash)


def replace_tail(user: User) -> None:
    cut_tail(3, roll_back_head=True)
    for i in range(3):
        audit_record(actor=None, action=f"bench.replacement.{i}", obj=user)


def edit_line(change: Callable[[dict[str, Any]], None], index: int = 0) -> None:
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    texts = path.read_text().splitlines()
    fields = json.loads(texts[index])
    change(fields)
    texts[index] = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(texts) + "\n")


def move_checkpoint_back(fields: dict[str, Any]) -> None:
    fields.update(seq=EVENTS - 3, hash=AuditEvent.objects.get(seq=EVENTS - 3).hash)


def forge_checkpoint(fields: dict[str, Any]) -> None:
    intruder = Ed25519PrivateKey.generate()
    move_checkpoint_back(fields)
    fields["kid"] = key_fingerprint(intruder.public_key())
    fields["sig"] = base64.b64encode(intruder.sign(signing_message(fields))).decode()


def drop_middle_line(user: User) -> None:
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    for i in range(2):
        audit_record(actor=None, action=f"bench.more.{i}", obj=user)
        write_checkpoint()
    texts = path.read_text().splitlines()
    path.write_text(texts[0] + "\n" + texts[2] + "\n")


# (name, attack, applies before keying)
CASES: list[tuple[str, Callable[[User], None], bool]] = [
    ("edit one event's payload, hash left as is", lambda u: rewrite_from(5, None), True),
    ("edit one event, recompute plain SHA-256 of it and all later events, move the head",
     lambda u: rewrite_from(5, plain), True),
    ("edit one event, recompute as unkeyed (key id emptied) onward", lambda u: rewrite_from(5, unkeyed), False),
    ("edit one event, recompute HMAC with a guessed key onward", lambda u: rewrite_from(7, guessed_key), False),
    ("edit one event, sign it and the rest under an own key id", lambda u: rewrite_from(7, own_key), False),
    ("rewrite the whole chain from #1 with plain SHA-256 (unkeyed)", lambda u: rewrite_from(1, unkeyed), True),
    ("delete one event in the middle", lambda u: delete_event(6), True),
    ("delete the last 3 events, head row left", lambda u: cut_tail(3, roll_back_head=False), True),
    ("delete the last 3 events and roll the head row back", lambda u: cut_tail(3, roll_back_head=True), True),
    ("roll back 3 and write 3 new events through the app", replace_tail, True),
    ("edit a checkpoint line (move it back to the cut)", lambda u: edit_line(move_checkpoint_back), False),
    ("forge a checkpoint line with another key", lambda u: edit_line(forge_checkpoint), False),
    ("remove a checkpoint line from the middle of the file", drop_middle_line, False),
]


def verify(with_checkpoints: bool) -> tuple[bool, str]:
    report = verify_chain()
    if not report.ok:
        return True, f"event #{report.first_broken_seq} ({report.reason}): {report.problem}"
    if with_checkpoints:
        anchors = verify_checkpoints()
        if not anchors.ok:
            return True, f"{anchors.reason}: {anchors.problem}"
    return False, "intact"


def run(name: str, attack: Callable[[User], None], user: User, *, keyed: bool, workdir: Path) -> tuple[bool, str]:
    settings.AUDIT_KEYS = {"k1": KEY} if keyed else {}
    settings.AUDIT_KEY_ID = "k1" if keyed else ""
    settings.AUDIT_LEGACY_MAX_SEQ = None
    settings.AUDIT_CHECKPOINT_FILE = workdir / f"{abs(hash((name, keyed)))}.jsonl"
    outcome: tuple[bool, str] = (False, "")
    try:
        with transaction.atomic():
            owner_session()
            AuditEvent.objects.all().delete()
            AuditHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
            for i in range(EVENTS):
                audit_record(actor=user, action=f"bench.event.{i}", obj=user, data={"i": i, "note": "original"})
            assert verify_chain().ok
            if keyed:
                write_checkpoint()
            attack(user)
            outcome = verify(with_checkpoints=keyed)
            raise Rollback
    except Rollback:
        pass
    return outcome


def main() -> None:
    logging.getLogger("clearance").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-auditor")
    workdir = Path(tempfile.mkdtemp(prefix="clearance-audit-bench-"))
    rows = []
    for name, attack, before_applies in CASES:
        before = run(name, attack, user, keyed=False, workdir=workdir) if before_applies else None
        after = run(name, attack, user, keyed=True, workdir=workdir)
        rows.append((name, before, after))
    print(f"database: {connection.vendor}; chain of {EVENTS} events per case\n")
    print("| tamper case | before (SHA-256, no checkpoint) | after (HMAC + signed checkpoints) | audit_verify says (after) |")
    print("|---|---|---|---|")
    for name, before, after in rows:
        b = "n/a" if before is None else ("detected" if before[0] else "**unseen**")
        a = "detected" if after[0] else "**unseen**"
        print(f"| {name} | {b} | {a} | {after[1][:160]} |")
    tried_before = [before for _, before, _ in rows if before is not None]
    print(f"\nbefore: {sum(1 for detected, _ in tried_before if detected)} of {len(tried_before)} detected")
    print(f"after:  {sum(1 for r in rows if r[2][0])} of {len(rows)} detected")


if __name__ == "__main__":
    main()
