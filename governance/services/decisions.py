"""Writes to decision records: propose, edit while proposed, accept or reject (superseding the record named)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from governance.choices import (
    DECISION_TRANSITIONS,
    DecisionStatus,
)
from governance.models import DecisionRecord
from governance.permissions import can_decide_decision_record, can_record_decisions
from intake.models import UseCaseRequest

DECISION_TEXT_FIELDS = ("title", "context", "options", "decision", "consequences")


def _decision_text(fields: dict[str, str]) -> dict[str, str]:
    missing = [name for name in ("title", "context", "decision") if not str(fields.get(name, "")).strip()]
    if missing:
        raise DomainError(f"{missing[0]} is required", field=missing[0])
    return {name: str(fields.get(name, "")).strip() for name in DECISION_TEXT_FIELDS}


def decision_record_propose(
    *, actor: User, system: AISystem, title: str, context: str, decision: str, options: str = "",
    consequences: str = "", supersedes: DecisionRecord | None = None, request: UseCaseRequest | None = None,
) -> DecisionRecord:
    """Propose a record; naming an accepted record of the same system proposes to supersede it."""
    text = _decision_text({"title": title, "context": context, "decision": decision, "options": options,
                           "consequences": consequences})
    if supersedes is not None:
        if supersedes.system_id != system.pk:
            raise DomainError("a record supersedes only a record of the same system", field="supersedes")
        if supersedes.status != DecisionStatus.ACCEPTED:
            raise DomainError(f"{supersedes.reference} is {supersedes.get_status_display().lower()}; only an "
                              "accepted record can be superseded", field="supersedes")
    if request is not None and request.system_id not in (None, system.pk):
        raise DomainError("the request belongs to another system", field="request")
    with transaction.atomic():
        record = DecisionRecord.objects.create(system=system, created_by=actor, supersedes=supersedes,
                                               request=request, **text)
        audit_record(actor=actor, action="decision_record.proposed", obj=record,
                     data={"supersedes": supersedes.pk if supersedes else None,
                           "request": request.pk if request else None})
    return record


def decision_record_update(*, actor: User, record: DecisionRecord, **fields: str) -> DecisionRecord:
    """Edit a proposed record; a decided one refuses (it changes only by being superseded)."""
    unknown = set(fields) - set(DECISION_TEXT_FIELDS)
    if unknown:
        raise DomainError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    with transaction.atomic():
        locked = DecisionRecord.objects.select_for_update(of=("self",)).select_related("system").get(pk=record.pk)
        if not can_record_decisions(actor, locked.system):
            raise NotAllowed("only the system's owners or the governance lead edit its records")
        if locked.status != DecisionStatus.PROPOSED:
            raise InvalidTransition(
                f"{locked.reference} is {locked.get_status_display().lower()} and cannot be edited; "
                "propose a new record that supersedes it"
            )
        text = _decision_text({**{n: getattr(locked, n) for n in DECISION_TEXT_FIELDS}, **fields})
        changed = sorted(n for n, v in text.items() if getattr(locked, n) != v)
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, text[name])
        locked.save(update_fields=changed)
        audit_record(actor=actor, action="decision_record.edited", obj=locked, data={"fields": changed})
    return locked


def decision_facts(system: AISystem) -> dict[str, Any]:
    """The facts a decision is taken on, stored with it when it is decided."""
    card = (system.model_cards.filter(status="published").order_by("-version")
            .values("version", "published_at").first())
    return {
        "risk_tier": system.risk_tier,
        "model": f"{system.model_name} {system.model_version}".strip(),
        "vendor": system.vendor,
        "lifecycle_stage": system.lifecycle_stage,
        "model_card_version": card["version"] if card else None,
    }


def decision_record_decide(*, actor: User, record: DecisionRecord, to: str) -> DecisionRecord:
    if to not in (DecisionStatus.ACCEPTED, DecisionStatus.REJECTED):
        raise DomainError("a proposed record is accepted or rejected", field="status")
    with transaction.atomic():
        locked = DecisionRecord.objects.select_for_update(of=("self",)).select_related("system").get(pk=record.pk)
        if not can_record_decisions(actor, locked.system):
            raise NotAllowed("only the system's owners or the governance lead decide its records")
        if to not in DECISION_TRANSITIONS[locked.status]:
            raise InvalidTransition(f"a {locked.get_status_display().lower()} record cannot be {to}")
        if not can_decide_decision_record(actor, locked):
            raise NotAllowed("the author of a decision record cannot decide it: ask another owner or the governance lead")
        system = locked.system
        old = None
        if to == DecisionStatus.ACCEPTED and locked.supersedes_id:
            # Two proposals may name the same record: the lock makes one win, the other conflicts.
            old = DecisionRecord.objects.select_for_update().get(pk=locked.supersedes_id)
            if old.status != DecisionStatus.ACCEPTED:
                winner = old.superseded_by.filter(status=DecisionStatus.ACCEPTED).exclude(pk=locked.pk).first()
                by = f" by {winner.reference}" if winner else ""
                raise InvalidTransition(f"{old.reference} was already {old.get_status_display().lower()}{by}; "
                                        "this record can no longer supersede it")
        # Deciders first: once the status leaves 'proposed' the row is frozen by the database.
        locked.deciders.add(actor)
        locked.status = to
        locked.decided_at = timezone.now()
        locked.facts_snapshot = decision_facts(system)
        locked.save(update_fields=["status", "decided_at", "facts_snapshot"])
        audit_record(actor=actor, action=f"decision_record.{to}", obj=locked, data=locked.facts_snapshot)
        if old is not None:
            old.status = DecisionStatus.SUPERSEDED
            old.save(update_fields=["status"])
            audit_record(actor=actor, action="decision_record.superseded", obj=old,
                         data={"superseded_by": locked.pk})
        readiness_changed(system=system, reason=f"decision record {to}")
    return locked
