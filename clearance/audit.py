"""The audit trail: append-only and hash-chained.

Every event stores the hash of the one before it, so changing or deleting any row breaks the chain
from that point; ``manage.py audit_verify`` walks it. Writers lock the single AuditHead row, which
serializes appends (no two events can claim the same predecessor) and keeps the event in the
transaction of the change it records: if that rolls back, so does the event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from clearance.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


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
) -> str:
    payload = {
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
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


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
        digest = compute_hash(**fields)
        event = AuditEvent.objects.create(hash=digest, **fields)
        AuditHead.objects.filter(pk=1).update(seq=event.seq, hash=digest)
        return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""


def _events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)


def verify_chain() -> ChainReport:
    """Walk the whole chain; name the first event whose link or content does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in _events():
        if event.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"event #{expected_seq} is missing (next is #{event.seq})")
        if event.prev_hash != expected_prev:
            return ChainReport(False, checked, event.seq, f"event #{event.seq} does not link to the event before it")
        recomputed = compute_hash(
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
        )
        if recomputed != event.hash:
            return ChainReport(False, checked, event.seq, f"event #{event.seq} was changed after it was written")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.get(pk=1)
    if head.seq != checked or head.hash != expected_prev:
        return ChainReport(
            False, checked, checked + 1, f"the chain ends at #{checked} but the head says #{head.seq}: events were removed"
        )
    return ChainReport(True, checked)


def history_for(obj: models.Model) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).select_related("actor")
