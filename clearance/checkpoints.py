"""Signed checkpoints of the audit chain's head, kept outside the database.

The keyed hashes stop a table owner from rewriting an event unseen, but not from cutting the tail and
rolling the head row back: what is left is a valid prefix. So every ``AUDIT_CHECKPOINT_SECONDS`` the
beat task (and ``manage.py audit_checkpoint``) appends one line ``(seq, hash, time)`` signed with
Ed25519 to ``AUDIT_CHECKPOINT_FILE``; ``audit_verify`` checks every signature and compares each line
with the table, so a head that falls back behind a checkpoint, or an event whose hash no longer
matches one, is named. Each line also carries the SHA-256 of the line before it, so a line removed
from the middle of the file is noticed too.

A line is written only after the events since the previous checkpoint verify (links, keys, hashes)
and the previous checkpoint still matches the table: the checkpointer never signs a tampered head.
Ship the file somewhere the database's owners cannot write (an append-only log host, WORM storage).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from clearance.audit import GENESIS_HASH, verify_chain, verify_segment
from clearance.keyring import key_fingerprint
from clearance.models import AuditEvent, AuditHead

logger = logging.getLogger("clearance.audit")

FORMAT_VERSION = 1
# Signatures cover this prefix too, so a checkpoint signature cannot be replayed as any other message.
SIGNING_CONTEXT = b"clearance-audit-checkpoint\n"
FIELDS = ("v", "seq", "hash", "time", "kid", "prev")


@dataclass(frozen=True)
class Checkpoint:
    line_no: int
    seq: int
    hash: str
    time: str
    kid: str
    prev: str
    text: str

    def describe(self) -> str:
        return f"checkpoint at seq {self.seq} signed {self.time}"


@dataclass
class CheckpointReport:
    ok: bool
    path: Path
    exists: bool
    checked: int = 0
    latest: Checkpoint | None = None
    problem: str = ""
    # line (the file: unreadable, forged or edited, reordered), rollback (the database ends before a
    # checkpoint), differs (an event's hash is not the one signed).
    reason: str = ""
    bad_line: int | None = None
    bad_seq: int | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)


class CheckpointRefused(Exception):
    """The chain or the file does not verify: no checkpoint is signed over it."""


def signing_message(fields: dict[str, Any]) -> bytes:
    body = json.dumps({name: fields[name] for name in FIELDS}, sort_keys=True, separators=(",", ":"))
    return SIGNING_CONTEXT + body.encode("utf-8")


def _line_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _public_keys() -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = settings.AUDIT_CHECKPOINT_PUBLIC_KEYS
    return keys


def _parse(line_no: int, text: str, keys: dict[str, Ed25519PublicKey]) -> Checkpoint | str:
    """The checkpoint on one line, or why it is not a trustworthy one."""
    try:
        raw = json.loads(text)
    except ValueError:
        return f"checkpoint line {line_no} is not readable (not JSON): the file was damaged or edited"
    if not isinstance(raw, dict) or any(name not in raw for name in (*FIELDS, "sig")):
        return f"checkpoint line {line_no} lacks a field of {', '.join((*FIELDS, 'sig'))}: the file was edited"
    seq, digest, time, kid, prev, sig = raw["seq"], raw["hash"], raw["time"], raw["kid"], raw["prev"], raw["sig"]
    if not (isinstance(seq, int) and all(isinstance(v, str) for v in (digest, time, kid, prev, sig))):
        return f"checkpoint line {line_no} has a field of the wrong type: the file was edited"
    where = f"checkpoint line {line_no} (seq {seq}, signed {time})"
    public = keys.get(kid)
    if public is None:
        return (f"{where} is signed by unknown key {kid!r}: forged, or signed by a key whose public half is "
                "not in AUDIT_CHECKPOINT_PUBLIC_KEYS")
    try:
        public.verify(base64.b64decode(sig, validate=True), signing_message(raw))
    except (InvalidSignature, binascii.Error, ValueError):
        return f"{where}: the signature does not verify: the line was edited or forged"
    return Checkpoint(line_no, seq, digest, time, kid, prev, text)


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], str, int | None]:
    """Every checkpoint of the file, in order, each signature and link checked.

    Returns the good checkpoints before the first bad line, the problem with that line (empty when
    none) and its number."""
    keys = _public_keys()
    found: list[Checkpoint] = []
    previous_text = ""
    with path.open(encoding="utf-8") as handle:
        for line_no, raw_line in enumerate(handle, start=1):
            text = raw_line.rstrip("\n")
            if not text.strip():
                continue
            parsed = _parse(line_no, text, keys)
            if isinstance(parsed, str):
                return found, parsed, line_no
            expected_prev = _line_digest(previous_text) if previous_text else ""
            if parsed.prev != expected_prev:
                return found, (f"checkpoint line {line_no} ({parsed.describe()}) does not follow the line before "
                               "it: a checkpoint was removed, inserted or reordered"), line_no
            # Only the seq must not go back: a clock stepped back by NTP is not tampering.
            if found and parsed.seq < found[-1].seq:
                return found, (f"checkpoint line {line_no} ({parsed.describe()}) goes back from "
                               f"{found[-1].describe()}"), line_no
            found.append(parsed)
            previous_text = text
    return found, "", None


def _database_end() -> int:
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return last or 0


def verify_checkpoints(path: Path | None = None) -> CheckpointReport:
    """Check the file's signatures, then compare every checkpoint with the table."""
    path = Path(settings.AUDIT_CHECKPOINT_FILE) if path is None else path
    if not path.exists():
        return CheckpointReport(True, path, exists=False)
    checkpoints, problem, bad_line = read_checkpoints(path)
    report = CheckpointReport(True, path, exists=True, checkpoints=checkpoints,
                              latest=checkpoints[-1] if checkpoints else None)
    if problem:
        report.ok, report.problem, report.reason, report.bad_line = False, problem, "line", bad_line
        return report
    end = _database_end()
    for start in range(0, len(checkpoints), 1000):
        batch = checkpoints[start:start + 1000]
        hashes = dict(AuditEvent.objects.filter(seq__in={c.seq for c in batch}).values_list("seq", "hash"))
        for checkpoint in batch:
            if checkpoint.seq > end:
                report.ok, report.reason, report.bad_line, report.bad_seq = False, "rollback", checkpoint.line_no, end + 1
                report.problem = (f"{checkpoint.describe()}: database ends at seq {end} (events after it were "
                                  "removed and the head rolled back)")
                return report
            stored = GENESIS_HASH if checkpoint.seq == 0 else hashes.get(checkpoint.seq)
            if stored != checkpoint.hash:
                report.ok, report.reason, report.bad_line, report.bad_seq = False, "differs", checkpoint.line_no, checkpoint.seq
                report.problem = f"event {checkpoint.seq} hash differs from {checkpoint.describe()}"
                return report
            report.checked += 1
    return report


@dataclass(frozen=True)
class CheckpointWritten:
    written: bool
    seq: int
    hash: str
    time: str
    path: Path


def _last_line(path: Path) -> str:
    """The file's last non-empty line, read from the end (the file only grows)."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        chunk, size = b"", 4096
        while True:
            start = max(0, end - size)
            handle.seek(start)
            chunk = handle.read(end - start)
            lines = [line for line in chunk.split(b"\n") if line.strip()]
            # A complete last line is preceded by a newline inside the chunk, or starts the file.
            if start == 0 or (lines and chunk.rstrip(b"\n").rfind(b"\n") >= 0):
                return lines[-1].decode("utf-8") if lines else ""
            size *= 2


def write_checkpoint(*, force: bool = False) -> CheckpointWritten:
    """Verify the events since the last checkpoint, then append a signed checkpoint of the head.

    Nothing is written when the head has not moved since the last checkpoint (unless ``force``).
    Raises CheckpointRefused, writing nothing, when the chain or the file's last line does not verify.
    """
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    key: Ed25519PrivateKey = settings.AUDIT_CHECKPOINT_KEY
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        # Two checkpointers (the beat task and an operator's command) must not both link to the same
        # previous line.
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        last_text = _last_line(path)
        last: Checkpoint | None = None
        if last_text:
            parsed = _parse(0, last_text, _public_keys())
            if isinstance(parsed, str):
                raise CheckpointRefused(parsed.replace("checkpoint line 0", "the last checkpoint line"))
            last = parsed
        head = AuditHead.objects.get(pk=1)
        head_event_hash = (GENESIS_HASH if head.seq == 0 else
                           AuditEvent.objects.filter(seq=head.seq).values_list("hash", flat=True).first())
        if head_event_hash != head.hash:
            raise CheckpointRefused(f"the head says #{head.seq} but that event is missing or has another hash")
        if last is None:
            report = verify_chain()
            if not report.ok:
                raise CheckpointRefused(f"audit chain broken at event #{report.first_broken_seq}: {report.problem}")
        else:
            if head.seq < last.seq:
                raise CheckpointRefused(f"{last.describe()}: database ends at seq {head.seq}")
            at_last = (GENESIS_HASH if last.seq == 0 else
                       AuditEvent.objects.filter(seq=last.seq).values_list("hash", flat=True).first())
            if at_last != last.hash:
                raise CheckpointRefused(f"event {last.seq} hash differs from {last.describe()}")
            if head.seq == last.seq and not force:
                return CheckpointWritten(False, last.seq, last.hash, last.time, path)
            report = verify_segment(after_seq=last.seq, after_hash=last.hash, through_seq=head.seq)
            if not report.ok:
                raise CheckpointRefused(f"audit chain broken at event #{report.first_broken_seq}: {report.problem}")
        now = timezone.now().astimezone(UTC)
        fields: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "seq": head.seq,
            "hash": head.hash,
            "time": _iso(now),
            "kid": key_fingerprint(key.public_key()),
            "prev": _line_digest(last_text) if last_text else "",
        }
        fields["sig"] = base64.b64encode(key.sign(signing_message(fields))).decode("ascii")
        handle.write(json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    logger.info("audit checkpoint written: seq %s hash %s", head.seq, head.hash)
    return CheckpointWritten(True, head.seq, head.hash, fields["time"], path)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
