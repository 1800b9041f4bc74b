"""Tampering with the audit record as a table owner would, on the real database: each attempt must
be named by ``audit_verify`` (the event's seq or the checkpoint, and why).

An owner can switch the append-only trigger off (``session_replication_role = replica`` on
PostgreSQL; SQLite has no trigger on this table), rewrite rows, recompute hashes with the public
function and move the head row. What the owner does not have is the HMAC key and the checkpoint key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clearance.audit import GENESIS_HASH, audit_record, compute_hash, verify_chain
from clearance.checkpoints import verify_checkpoints, write_checkpoint
from clearance.keyring import checkpoint_public_keys, key_fingerprint
from clearance.models import AuditEvent, AuditHead

pytestmark = pytest.mark.django_db

K1 = "first-audit-key-" + "a" * 40
K2 = "second-audit-key-" + "b" * 40


@pytest.fixture(autouse=True)
def _keys(settings: Any) -> None:
    settings.AUDIT_KEYS = {"k1": K1.encode()}
    settings.AUDIT_KEY_ID = "k1"
    settings.AUDIT_LEGACY_MAX_SEQ = None


@pytest.fixture
def empty_chain(personas: dict[str, Any]) -> None:
    """Start the chain afresh inside the test's transaction (migrate recorded the policy activation
    under the embedded key), so seq numbers below are the test's own."""
    _owner_session()
    AuditEvent.objects.all().delete()
    AuditHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})


@pytest.fixture
def chain(empty_chain: None, personas: dict[str, Any]) -> list[AuditEvent]:
    """Twelve events: enough for a middle and a tail."""
    for i in range(12):
        audit_record(actor=personas["lead"], action=f"test.event.{i}", obj=personas["owner"],
                     data={"i": i, "note": "original"})
    events = list(AuditEvent.objects.order_by("seq"))
    assert verify_chain().ok
    return events


def _owner_session() -> None:
    if connection.vendor == "postgresql":
        # The owner's way past the append-only trigger (superuser only: the runtime role cannot).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "occurred_at": event.occurred_at, "actor_id": event.actor_id,
            "actor_repr": event.actor_repr, "action": event.action, "object_type": event.object_type,
            "object_id": event.object_id, "object_repr": event.object_repr, "data": event.data}


def plain_sha256(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    """The attacker recomputes with the public function and no key (keeps the event's key id)."""
    blob = json.dumps({**{k: v for k, v in fields.items()}, "prev_hash": prev,
                       "occurred_at": fields["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                       **({"key_id": key_id} if key_id else {})},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest(), key_id


def legacy_downgrade(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    """The attacker marks the event as written before keying, where plain SHA-256 is the rule."""
    return compute_hash(**fields, prev_hash=prev, key_id=""), ""


def wrong_key(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    """The attacker guesses a key and keeps the key id."""
    return compute_hash(**fields, prev_hash=prev, key_id=key_id, keys={key_id: b"guessed-" + b"x" * 40}), key_id


def own_key_id(fields: dict[str, Any], prev: str, key_id: str) -> tuple[str, str]:
    """The attacker signs with a key of their own under a new id."""
    return compute_hash(**fields, prev_hash=prev, key_id="k9", keys={"k9": b"mine-" + b"y" * 40}), "k9"


def rewrite_from(victim_seq: int, change: Callable[[dict[str, Any]], None],
                 hasher: Callable[[dict[str, Any], str, str], tuple[str, str]]) -> None:
    """Change one event, recompute its hash and every later one's (links included) with ``hasher``,
    and move the head along: a rewrite that leaves every link consistent."""
    _owner_session()
    prev = AuditEvent.objects.get(seq=victim_seq - 1).hash if victim_seq > 1 else GENESIS_HASH
    for event in AuditEvent.objects.filter(seq__gte=victim_seq).order_by("seq"):
        fields = _fields(event)
        if event.seq == victim_seq:
            change(fields)
        digest, key_id = hasher(fields, prev, event.key_id)
        AuditEvent.objects.filter(pk=event.pk).update(
            data=fields["data"], object_repr=fields["object_repr"], prev_hash=prev, hash=digest, key_id=key_id)
        prev = digest
    AuditHead.objects.filter(pk=1).update(hash=prev)


def forge_payload(fields: dict[str, Any]) -> None:
    fields["data"] = {**fields["data"], "note": "rewritten"}


def expect_broken(seq: int, reason: str, *words: str) -> str:
    report = verify_chain()
    assert not report.ok, "the rewrite went unseen"
    assert report.first_broken_seq == seq and report.reason == reason, report
    for word in words:
        assert word in report.problem
    with pytest.raises(CommandError, match=f"#{seq}") as caught:
        call_command("audit_verify")
    return str(caught.value)


# --- Keyed hashes ---------------------------------------------------------------------------------

def test_new_events_are_keyed_and_the_command_says_so(chain, capsys):
    assert {e.key_id for e in chain} == {"k1"}
    assert all(len(e.hash) == 64 for e in chain)
    # The stored hash is not the unkeyed SHA-256 the public function gives without a key.
    first = chain[0]
    assert first.hash != compute_hash(**_fields(first), prev_hash=first.prev_hash, key_id="")
    call_command("audit_verify")
    out = capsys.readouterr()
    assert "intact: 12 events verified, 12 keyed (k1)" in out.out
    assert "no checkpoint" in out.err


def test_rewrite_with_plain_sha256_is_named(chain):
    rewrite_from(5, forge_payload, plain_sha256)
    message = expect_broken(5, "hash-mismatch", "hash mismatch", "k1")
    assert "hash-mismatch" in message


def test_rewrite_downgraded_to_an_unkeyed_event_is_named(chain):
    rewrite_from(5, forge_payload, legacy_downgrade)
    expect_broken(5, "unkeyed", "no key id after keyed events")


def test_whole_chain_downgraded_is_refused_by_the_legacy_bound(chain, settings):
    rewrite_from(1, forge_payload, legacy_downgrade)
    # With no keyed event left, only the bound (or a checkpoint, below) can tell.
    settings.AUDIT_LEGACY_MAX_SEQ = 0
    expect_broken(1, "unkeyed", "AUDIT_LEGACY_MAX_SEQ")


def test_rewrite_with_a_wrong_key_is_named(chain):
    rewrite_from(7, forge_payload, wrong_key)
    expect_broken(7, "hash-mismatch", "HMAC under key 'k1'")


def test_rewrite_under_an_unknown_key_id_is_named(chain):
    rewrite_from(7, forge_payload, own_key_id)
    expect_broken(7, "unknown-key", "unknown key id 'k9'")


def test_a_gap_in_seq_is_named(chain):
    _owner_session()
    AuditEvent.objects.filter(seq=6).delete()
    expect_broken(6, "gap", "gap in seq")


def test_key_rotation_keeps_old_events_verifying(chain, settings, personas, capsys):
    settings.AUDIT_KEYS = {"k1": K1.encode(), "k2": K2.encode()}
    settings.AUDIT_KEY_ID = "k2"
    audit_record(actor=personas["lead"], action="test.after.rotation", obj=personas["owner"])
    assert AuditEvent.objects.get(seq=13).key_id == "k2"
    report = verify_chain()
    assert report.ok and report.checked == 13 and report.key_ids == ("k1", "k2")
    call_command("audit_verify")
    assert "13 keyed (k1, k2)" in capsys.readouterr().out
    # Retiring a key from settings while events still need it is named, not silently passed.
    settings.AUDIT_KEYS = {"k2": K2.encode()}
    expect_broken(1, "unknown-key", "unknown key id 'k1'")


def test_events_written_before_keying_still_verify_and_are_counted(empty_chain, personas, capsys, settings):
    # What the code before keying wrote: no key id, plain SHA-256.
    settings.AUDIT_KEY_ID = ""
    settings.AUDIT_KEYS = {}
    for i in range(3):
        event = audit_record(actor=None, action=f"test.legacy.{i}", obj=personas["lead"])
        assert event.key_id == "" and event.hash == compute_hash(**_fields(event), prev_hash=event.prev_hash)
    settings.AUDIT_KEYS = {"k1": K1.encode()}
    settings.AUDIT_KEY_ID = "k1"
    audit_record(actor=None, action="test.keyed", obj=personas["lead"])
    report = verify_chain()
    assert report.ok and (report.legacy, report.keyed) == (3, 1)
    call_command("audit_verify")
    assert "1 keyed (k1), 3 unkeyed from before keying (#1-#3)" in capsys.readouterr().out
    settings.AUDIT_LEGACY_MAX_SEQ = 3
    assert verify_chain().ok
    settings.AUDIT_LEGACY_MAX_SEQ = 2
    assert verify_chain().first_broken_seq == 3


# --- Checkpoints ----------------------------------------------------------------------------------

def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_checkpoint_command_signs_the_head_and_verify_reads_it(chain, capsys, personas):
    call_command("audit_checkpoint")
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    [line] = _lines(path)
    assert (line["seq"], line["hash"]) == (12, chain[-1].hash)
    public = settings.AUDIT_CHECKPOINT_KEY.public_key()
    assert line["kid"] == key_fingerprint(public)
    call_command("audit_checkpoint")  # head unchanged: nothing appended
    assert len(_lines(path)) == 1
    audit_record(actor=None, action="test.more", obj=personas["lead"])
    call_command("audit_checkpoint")
    lines = _lines(path)
    assert [c["seq"] for c in lines] == [12, 13]
    assert lines[1]["prev"] == hashlib.sha256(path.read_text().splitlines()[0].encode()).hexdigest()
    capsys.readouterr()
    call_command("audit_verify", "--require-checkpoint")
    assert "checkpoints: 2 verified" in capsys.readouterr().out


def test_tail_cut_and_head_rolled_back_after_a_checkpoint_is_named(chain):
    written = write_checkpoint()
    assert written.written and written.seq == 12
    _owner_session()
    AuditEvent.objects.filter(seq__gt=9).delete()
    AuditHead.objects.filter(pk=1).update(seq=9, hash=chain[8].hash)
    # The table alone is a consistent prefix now: that is why the anchor exists.
    assert verify_chain().ok
    report = verify_checkpoints()
    assert not report.ok and report.reason == "rollback"
    assert report.problem.startswith(f"checkpoint at seq 12 signed {written.time}: database ends at seq 9")
    with pytest.raises(CommandError, match=f"checkpoint at seq 12 signed {written.time}: database ends at seq 9"):
        call_command("audit_verify")
    # And the checkpointer refuses to sign over it.
    with pytest.raises(CommandError, match="REFUSED.*database ends at seq 9"):
        call_command("audit_checkpoint")


def test_tail_replaced_after_a_checkpoint_is_named(chain, personas):
    written = write_checkpoint()
    _owner_session()
    AuditEvent.objects.filter(seq__gt=9).delete()
    AuditHead.objects.filter(pk=1).update(seq=9, hash=chain[8].hash)
    for i in range(3):  # new history written through the normal path, with the real key
        audit_record(actor=None, action=f"test.replacement.{i}", obj=personas["lead"])
    assert verify_chain().ok
    with pytest.raises(CommandError, match=f"event 12 hash differs from checkpoint at seq 12 signed {written.time}"):
        call_command("audit_verify")


def test_whole_chain_downgraded_after_a_checkpoint_is_named(chain):
    write_checkpoint()
    rewrite_from(1, forge_payload, legacy_downgrade)
    assert verify_chain().ok  # every event unkeyed, every link consistent
    with pytest.raises(CommandError, match="event 12 hash differs from checkpoint at seq 12"):
        call_command("audit_verify")


def _edit_line(path: Path, index: int, change: Callable[[dict[str, Any]], None]) -> None:
    texts = path.read_text().splitlines()
    fields = json.loads(texts[index])
    change(fields)
    texts[index] = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(texts) + "\n")


def test_an_edited_checkpoint_line_is_named(chain):
    write_checkpoint()
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    # Move the checkpoint back to seq 9 to cover a cut tail: the signature no longer holds.
    _edit_line(path, 0, lambda f: f.update(seq=9, hash=chain[8].hash))
    report = verify_checkpoints()
    assert not report.ok and report.reason == "line" and report.bad_line == 1
    with pytest.raises(CommandError, match=r"checkpoint line 1 \(seq 9, signed .*\): the signature does not verify"):
        call_command("audit_verify")


def test_a_forged_checkpoint_line_is_named(chain, personas):
    write_checkpoint()
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    intruder = Ed25519PrivateKey.generate()

    def resign(fields: dict[str, Any]) -> None:
        from clearance.checkpoints import signing_message

        fields.update(seq=9, hash=chain[8].hash, kid=key_fingerprint(intruder.public_key()))
        fields["sig"] = base64.b64encode(intruder.sign(signing_message(fields))).decode()

    _edit_line(path, 0, resign)
    with pytest.raises(CommandError, match="checkpoint line 1 .* unknown key"):
        call_command("audit_verify")


def test_a_checkpoint_line_removed_from_the_middle_is_named(chain, personas):
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    for i in range(3):
        audit_record(actor=None, action=f"test.step.{i}", obj=personas["lead"])
        write_checkpoint()
    texts = path.read_text().splitlines()
    path.write_text(texts[0] + "\n" + texts[2] + "\n")
    with pytest.raises(CommandError, match="checkpoint line 2 .* does not follow the line before it"):
        call_command("audit_verify")


def test_checkpoints_signed_by_a_rotated_key_still_verify(chain, settings, personas):
    write_checkpoint()
    old = settings.AUDIT_CHECKPOINT_KEY
    new = Ed25519PrivateKey.generate()
    settings.AUDIT_CHECKPOINT_KEY = new
    old_public = base64.b64encode(old.public_key().public_bytes_raw()).decode()
    settings.AUDIT_CHECKPOINT_PUBLIC_KEYS = checkpoint_public_keys(values=old_public, private=new)
    audit_record(actor=None, action="test.after.rotation", obj=personas["lead"])
    assert write_checkpoint().written
    report = verify_checkpoints()
    assert report.ok and report.checked == 2
    # Without the old public key, its line is named.
    settings.AUDIT_CHECKPOINT_PUBLIC_KEYS = checkpoint_public_keys(values="", private=new)
    assert verify_checkpoints().problem.startswith("checkpoint line 1 (seq 12")


def test_the_checkpointer_refuses_to_sign_a_rewritten_chain(chain, personas):
    write_checkpoint()
    for i in range(3):
        audit_record(actor=None, action=f"test.later.{i}", obj=personas["lead"])
    rewrite_from(14, forge_payload, plain_sha256)
    with pytest.raises(CommandError, match=r"REFUSED: audit chain broken at event #14"):
        call_command("audit_checkpoint")
    # A rewrite before the last checkpoint is refused by the checkpoint itself.
    rewrite_from(11, forge_payload, plain_sha256)
    with pytest.raises(CommandError, match=r"REFUSED: event 12 hash differs from checkpoint at seq 12"):
        call_command("audit_checkpoint", "--force")
    assert len(_lines(Path(settings.AUDIT_CHECKPOINT_FILE))) == 1


def test_hmac_is_what_the_module_says(chain):
    """Independent of the module: the stored hash is HMAC-SHA256(key, canonical JSON with key id)."""
    event = chain[3]
    blob = json.dumps({**_fields(event), "occurred_at": event.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                       "prev_hash": event.prev_hash, "key_id": "k1"},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event.hash == hmac.new(K1.encode(), blob.encode(), hashlib.sha256).hexdigest()


def test_the_audit_page_names_a_rollback_behind_a_checkpoint(chain, client, personas):
    client.force_login(personas["auditor"])  # sign-in goes through django-axes, which needs a request
    written = write_checkpoint()
    page = client.get("/audit/?verify=1").content.decode()
    assert "Chain intact: 12 events verified" in page and "Checkpoints: 1 verified, the latest at seq 12" in page
    _owner_session()
    AuditEvent.objects.filter(seq__gt=9).delete()
    AuditHead.objects.filter(pk=1).update(seq=9, hash=chain[8].hash)
    page = client.get("/audit/?verify=1").content.decode()
    assert "Chain intact: 9 events verified" in page
    assert f"Contradicts its checkpoints: checkpoint at seq 12 signed {written.time}: database ends at seq 9" in page


def test_a_long_checkpoint_file_keeps_linking_each_line_to_the_last(chain, personas):
    # Past the 4 KiB the checkpointer reads back from the end of the file to find its last line.
    for i in range(40):
        audit_record(actor=None, action=f"test.many.{i}", obj=personas["lead"])
        assert write_checkpoint().written
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    assert path.stat().st_size > 3 * 4096
    report = verify_checkpoints()
    assert report.ok and report.checked == 40 and report.latest is not None and report.latest.seq == 52


def test_a_head_moved_back_over_kept_events_is_named(chain):
    _owner_session()
    AuditHead.objects.filter(pk=1).update(seq=9, hash=chain[8].hash)
    expect_broken(10, "head", "the head says #9 but the chain goes on to #12")


def test_a_rewritten_head_hash_is_named(chain):
    _owner_session()
    AuditHead.objects.filter(pk=1).update(hash="f" * 64)
    expect_broken(12, "head", "the head row was rewritten")
