"""Waivers: a time-bound, justified exception to one requirement for one system.

Requested by someone who may change the system, approved (or rejected) by the system's risk owner,
who may not approve their own request. An approved waiver turns that requirement's status to
``waived`` (with who, until when and why) in every verdict it affects, until it expires or is
revoked; readiness is recomputed at each of those moments. Every move is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.notifications import notify
from clearance.people import name_of
from clearance.policyfile import PolicyError
from governance.choices import WAIVER_TRANSITIONS, WaiverStatus
from governance.models import Waiver
from governance.permissions import can_request_waiver, can_revoke_waiver, waiver_decide_refusal
from governance.policy.loader import load_readiness_policy


def max_waiver_days() -> int:
    return int(getattr(settings, "WAIVER_MAX_DAYS", 90))


def _transition(waiver: Waiver, to: str) -> None:
    if to not in WAIVER_TRANSITIONS[waiver.status]:
        raise InvalidTransition(f"the waiver is {waiver.get_status_display().lower()}; it cannot become {to}")
    waiver.status = to


def _lock(waiver: Waiver) -> Waiver:
    return Waiver.objects.select_for_update().select_related("system", "requested_by").get(pk=waiver.pk)


def waiver_request(
    *, actor: User, system: AISystem, requirement: str, justification: str, expires_at: datetime
) -> Waiver:
    """Ask the system's risk owner for an exception to one requirement of the active policy."""
    if not can_request_waiver(actor, system):
        raise NotAllowed("only the system's owners and the governance team may request a waiver")
    justification = justification.strip()
    if len(justification) < 20:
        raise DomainError("say why in at least 20 characters: the risk owner and auditors read it",
                          field="justification")
    now = timezone.now()
    if expires_at <= now:
        raise DomainError("the expiry must be in the future", field="expires_at")
    if expires_at > now + timedelta(days=max_waiver_days()):
        raise DomainError(f"a waiver lasts at most {max_waiver_days()} days", field="expires_at")
    try:
        policy = load_readiness_policy()
    except PolicyError as exc:
        raise DomainError(f"the readiness policy does not load, so no waiver can name a requirement: {exc}") from exc
    known = {req.id: req for req in policy.requirements}
    if requirement not in known:
        raise DomainError(f"no requirement {requirement!r} in policy {policy.name}; known: {', '.join(sorted(known))}",
                          field="requirement")
    if not known[requirement].waivable:
        raise DomainError(f"the policy does not allow waiving {requirement}", field="requirement")
    if system.risk_owner_id is None:
        raise DomainError("the system has no risk owner to approve a waiver; assign one first", field="requirement")
    with transaction.atomic():
        # One open or live waiver per requirement: a second one would hide the first's expiry.
        AISystem.objects.select_for_update().filter(pk=system.pk).first()
        clash = Waiver.objects.filter(system=system, requirement=requirement,
                                      status__in=[WaiverStatus.REQUESTED, WaiverStatus.APPROVED],
                                      expires_at__gt=now).first()
        if clash is not None:
            raise DomainError(f"waiver #{clash.pk} for {requirement} is already {clash.status}", field="requirement")
        waiver = Waiver.objects.create(
            system=system, requirement=requirement, justification=justification, expires_at=expires_at,
            requested_by=actor, requested_at=now, policy_version=policy.version,
        )
        audit_record(actor=actor, action="waiver.requested", obj=waiver,
                     data={"system": system.slug, "requirement": requirement, "expires_at": expires_at,
                           "justification": justification, "policy_version": policy.version})
        notify(recipients=[system.risk_owner], subject=f"Waiver requested: {system.name} / {requirement}",
               body=f"{name_of(actor)} asks to waive {requirement} until {expires_at:%Y-%m-%d}: {justification}",
               url=reverse("system-detail", kwargs={"slug": system.slug}) + "#waivers")
    return waiver


def waiver_decide(*, actor: User, waiver: Waiver, approve: bool, note: str = "") -> Waiver:
    """The risk owner approves or rejects a requested waiver (not their own request)."""
    with transaction.atomic():
        waiver = _lock(waiver)
        system = waiver.system
        refusal = waiver_decide_refusal(actor, waiver)
        if refusal:
            raise NotAllowed(refusal)
        now = timezone.now()
        if approve and waiver.expires_at <= now:
            raise InvalidTransition("the waiver's expiry has passed; request a new one")
        if not approve and not note.strip():
            raise DomainError("say why it is rejected", field="note")
        _transition(waiver, WaiverStatus.APPROVED if approve else WaiverStatus.REJECTED)
        waiver.decided_by, waiver.decided_at, waiver.decision_note = actor, now, note.strip()
        waiver.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(actor=actor, action=f"waiver.{waiver.status}", obj=waiver,
                     data={"system": system.slug, "requirement": waiver.requirement,
                           "expires_at": waiver.expires_at, "note": waiver.decision_note})
        notify(recipients=[waiver.requested_by], subject=f"Waiver {waiver.status}: {system.name} / {waiver.requirement}",
               body=waiver.decision_note or f"valid until {waiver.expires_at:%Y-%m-%d}",
               url=reverse("system-detail", kwargs={"slug": system.slug}) + "#waivers")
        if approve:
            readiness_changed(system=system, reason=f"waiver #{waiver.pk} approved")
    return waiver


def waiver_revoke(*, actor: User, waiver: Waiver, note: str = "") -> Waiver:
    """End a waiver early (risk owner, governance lead, or the requester while it is pending)."""
    with transaction.atomic():
        waiver = _lock(waiver)
        system = waiver.system
        if not can_revoke_waiver(actor, waiver):
            raise NotAllowed("only the risk owner or the governance lead may revoke a waiver")
        was_live = waiver.status == WaiverStatus.APPROVED
        _transition(waiver, WaiverStatus.REVOKED)
        waiver.revoked_by, waiver.revoked_at, waiver.decision_note = actor, timezone.now(), note.strip()
        waiver.save(update_fields=["status", "revoked_by", "revoked_at", "decision_note"])
        audit_record(actor=actor, action="waiver.revoked", obj=waiver,
                     data={"system": system.slug, "requirement": waiver.requirement, "note": waiver.decision_note})
        if was_live:
            readiness_changed(system=system, reason=f"waiver #{waiver.pk} revoked")
    return waiver


def waivers_expire(now: datetime | None = None) -> int:
    """Periodic: mark approved waivers past their expiry as expired, audit it and recompute readiness.

    The engine already ignores an expired waiver at the moment it expires; this makes the record and
    the stored verdicts say so too. Safe to run twice (conditional update per row).
    """
    now = now or timezone.now()
    count = 0
    for pk in Waiver.objects.filter(status=WaiverStatus.APPROVED, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            claimed = Waiver.objects.filter(pk=pk, status=WaiverStatus.APPROVED, expires_at__lte=now).update(
                status=WaiverStatus.EXPIRED)
            if not claimed:
                continue
            waiver = Waiver.objects.select_related("system").get(pk=pk)
            audit_record(actor=None, action="waiver.expired", obj=waiver,
                         data={"system": waiver.system.slug, "requirement": waiver.requirement,
                               "expires_at": waiver.expires_at})
            notify(recipients=[waiver.requested_by, waiver.system.risk_owner],
                   subject=f"Waiver expired: {waiver.system.name} / {waiver.requirement}",
                   body="The requirement is enforced again.",
                   url=reverse("system-detail", kwargs={"slug": waiver.system.slug}) + "#waivers")
            readiness_changed(system=waiver.system, reason=f"waiver #{pk} expired")
            count += 1
    return count
