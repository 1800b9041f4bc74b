"""The audit trail: append-only, hash-chained and keyed.

Every event stores the hash of the one before it, so changing or deleting any row breaks the chain
from that point; ``manage.py audit_verify`` walks it. The hash is an HMAC-SHA256 under a key held in
settings (``AUDIT_KEYS``), never in the database, so whoever owns the table cannot recompute it after
a rewrite; each event names its key id so keys can rotate. Events written before keying have an
empty key id and a plain SHA-256, and are accepted only before the first keyed event (and up to
``AUDIT_LEGACY_MAX_SEQ`` when set). Cutting the tail and rolling the head back leaves a consistent
prefix; the signed checkpoints of ``clearance/checkpoints.py``, kept outside the database, catch that.

Writers lock the single AuditHead row, which serializes appends (no two events can claim the same
predecessor) and keeps the event in the transaction of the change it records: if that rolls back,
so does the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from clearance.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


class UnknownAuditKey(LookupError):
    """An event names a key id that settings do not hold."""


def _canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(
    *,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_repr: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    data: Any,
    prev_hash: str,
    key_id: str = "",
    keys: dict[str, bytes] | None = None,
) -> str:
    """The event's hash: HMAC-SHA256 under ``keys[key_id]`` (settings.AUDIT_KEYS by default), or,
    for an empty key id (events written before keying), the plain SHA-256 they were written with."""
    payload: dict[str, Any] = {
        "seq": seq,
        "occurred_at": _canonical_time(occurred_at),
        "actor_id": actor_id,
        "actor_repr": actor_repr,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": object_repr,
        "data": data,
        "prev_hash": prev_hash,
    }
    if not key_id:
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()
    ring = settings.AUDIT_KEYS if keys is None else keys
    try:
        key = ring[key_id]
    except KeyError:
        raise UnknownAuditKey(key_id) from None
    # The key id is inside what is signed, so an event cannot be moved under another key.
    payload["key_id"] = key_id
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, blob.encode("utf-8"), hashlib.sha256).hexdigest()


def _jsonable(data: dict[str, Any]) -> Any:
    # Store exactly what is hashed: a round trip through JSON turns dates and decimals into the
    # strings the database will hand back.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    data: dict[str, Any] | None = None,
    object_repr: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction."""
    with transaction.atomic():
        # The head row is created by migration; get_or_create only matters on a flushed test
        # database. If events exist while the head is gone, seq 1 collides and the write fails.
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        now = timezone.now()
        # No actor, or one never saved (an anonymous user), is the system acting.
        known = actor if actor is not None and actor.pk else None
        actor_id = known.pk if known is not None else None
        actor_repr = known.get_username() if known is not None else "system"
        fields = {
            "seq": head.seq + 1,
            "occurred_at": now,
            "actor_id": actor_id,
            "actor_repr": actor_repr,
            "action": action,
            "object_type": obj._meta.label_lower,
            "object_id": str(obj.pk),
            "object_repr": (object_repr or str(obj))[:300],
            "data": _jsonable(data or {}),
            "prev_hash": head.hash,
        }
        key_id = settings.AUDIT_KEY_ID
        digest = compute_hash(**fields, key_id=key_id)
        event = AuditEvent.objects.create(hash=digest, key_id=key_id, **fields)
        AuditHead.objects.filter(pk=1).update(seq=event.seq, hash=digest)
        return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""
    # A short code for the problem: gap, link, unkeyed, unknown-key, hash-mismatch, head.
    reason: str = ""
    keyed: int = 0
    legacy: int = 0
    key_ids: tuple[str, ...] = ()
    last_hash: str = GENESIS_HASH


def event_hash(event: AuditEvent, keys: dict[str, bytes] | None = None) -> str:
    return compute_hash(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_repr=event.actor_repr,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        object_repr=event.object_repr,
        data=event.data,
        prev_hash=event.prev_hash,
        key_id=event.key_id,
        keys=keys,
    )


def _walk(events: Iterable[AuditEvent], *, first_seq: int, prev_hash: str, keyed_before: bool) -> ChainReport:
    """Check each event's place, link, key and hash; stop at the first that does not hold."""
    keys: dict[str, bytes] = settings.AUDIT_KEYS
    legacy_max: int | None = settings.AUDIT_LEGACY_MAX_SEQ
    expected_seq, expected_prev = first_seq, prev_hash
    checked = keyed = legacy = 0
    seen_keyed = keyed_before
    key_ids: set[str] = set()

    def broken(seq: int, reason: str, problem: str) -> ChainReport:
        return ChainReport(False, checked, seq, problem, reason, keyed, legacy, tuple(sorted(key_ids)), expected_prev)

    for event in events:
        if event.seq != expected_seq:
            return broken(expected_seq, "gap",
                          f"gap in seq: event #{expected_seq} is missing (next is #{event.seq})")
        if event.prev_hash != expected_prev:
            return broken(event.seq, "link", f"event #{event.seq} does not link to the event before it")
        if not event.key_id:
            if seen_keyed:
                return broken(event.seq, "unkeyed",
                              f"event #{event.seq} has no key id after keyed events: an unkeyed hash "
                              "there can only be a rewrite")
            if legacy_max is not None and event.seq > legacy_max:
                return broken(event.seq, "unkeyed",
                              f"event #{event.seq} has no key id, but events after "
                              f"#{legacy_max} (AUDIT_LEGACY_MAX_SEQ) must be keyed")
        elif event.key_id not in keys:
            return broken(event.seq, "unknown-key",
                          f"event #{event.seq} names unknown key id {event.key_id!r} "
                          "(not in AUDIT_KEYS: a forged id, or a retired key dropped from settings)")
        if not hmac.compare_digest(event_hash(event, keys), event.hash):
            how = f"HMAC under key {event.key_id!r}" if event.key_id else "unkeyed SHA-256"
            return broken(event.seq, "hash-mismatch",
                          f"event #{event.seq} hash mismatch ({how}): it was changed after it was written")
        if event.key_id:
            seen_keyed = True
            keyed += 1
            key_ids.add(event.key_id)
        else:
            legacy += 1
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    return ChainReport(True, checked, None, "", "", keyed, legacy, tuple(sorted(key_ids)), expected_prev)


def _ordered(qs: models.QuerySet[AuditEvent]) -> Iterable[AuditEvent]:
    return qs.order_by("seq").iterator(chunk_size=2000)


def verify_chain() -> ChainReport:
    """Walk the whole chain and compare its end with the head row; name the first event that does
    not hold. (The checkpoints outside the database are compared by ``checkpoints.verify_checkpoints``.)

    On a live system events are appended while the walk runs. An event and the head row it moves
    commit together, so the head is read first and the walk covers the events up to it: every one of
    them is committed by then. Events appended later are left to the next walk. A head moved back
    behind its events shows as events past the head: the highest seq is read before a second read of
    the head, so an honest append between the two reads cannot look like one."""
    head = AuditHead.objects.get(pk=1)
    report = _walk(_ordered(AuditEvent.objects.filter(seq__lte=head.seq)), first_seq=1,
                   prev_hash=GENESIS_HASH, keyed_before=False)
    if not report.ok:
        return report
    if head.seq > report.checked:
        seq, problem = report.checked + 1, (f"the chain ends at #{report.checked} but the head says "
                                            f"#{head.seq}: events were removed")
    elif head.seq == report.checked and head.hash != report.last_hash:
        seq, problem = head.seq, f"the head's hash is not the hash of event #{head.seq}: the head row was rewritten"
    else:
        highest = AuditEvent.objects.aggregate(m=models.Max("seq"))["m"] or 0
        later_head = AuditHead.objects.values_list("seq", flat=True).get(pk=1)
        if highest <= later_head:
            return report
        seq, problem = later_head + 1, (f"the head says #{later_head} but the chain goes on to #{highest}: "
                                        "the head row was moved back")
    return ChainReport(False, report.checked, seq, problem, "head", report.keyed, report.legacy, report.key_ids,
                       report.last_hash)


def verify_segment(*, after_seq: int, after_hash: str, through_seq: int) -> ChainReport:
    """Check the events after a trusted (checkpointed) one, up to ``through_seq``."""
    keyed_before = bool(after_seq) and AuditEvent.objects.filter(seq=after_seq).exclude(key_id="").exists()
    events = _ordered(AuditEvent.objects.filter(seq__gt=after_seq, seq__lte=through_seq))
    report = _walk(events, first_seq=after_seq + 1, prev_hash=after_hash, keyed_before=keyed_before)
    if report.ok and after_seq + report.checked != through_seq:
        missing = after_seq + report.checked + 1
        return ChainReport(False, report.checked, missing, f"gap in seq: event #{missing} is missing",
                           "gap", report.keyed, report.legacy, report.key_ids, report.last_hash)
    return report


def history_for(obj: models.Model) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).select_related("actor")
