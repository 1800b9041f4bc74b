"""Writes of compliance: a manual attestation of one control for one system, and a system's operator
role. Each checks permission and input, writes in one transaction and audits it there."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, NotAllowed
from compliance.choices import GpaiModel, OperatorRole
from compliance.loader import Library, load_library
from compliance.models import Attestation, OperatorProfile
from compliance.permissions import can_attest

MAX_ATTESTATION_DAYS = 366


def attestation_record(*, actor: User, system: AISystem, control: str, statement: str, expires_at: datetime,
                       evidence_url: str = "", library: Library | None = None) -> Attestation:
    """The actor attests that ``control`` (``<framework>/<control id>``) holds for the system until
    ``expires_at``; after that the attestation is stale. A later attestation supersedes it."""
    if not can_attest(actor, system):
        raise NotAllowed("only the system's owners and the governance team may attest its controls")
    library = library or load_library()
    if library.control(control) is None:
        raise DomainError(f"Control: {control!r} is not a control of any loaded framework", field="control")
    statement = statement.strip()
    if len(statement) < 20:
        raise DomainError("Statement: say what holds and how you know, in at least 20 characters", field="statement")
    now = timezone.now()
    if expires_at <= now:
        raise DomainError("Expires: the expiry must be in the future", field="expires_at")
    if expires_at > now + timedelta(days=MAX_ATTESTATION_DAYS):
        raise DomainError(f"Expires: an attestation lasts at most {MAX_ATTESTATION_DAYS} days; review it again then",
                          field="expires_at")
    with transaction.atomic():
        attestation = Attestation.objects.create(system=system, control=control, owner=actor, statement=statement,
                                                 evidence_url=evidence_url, reviewed_at=now, expires_at=expires_at)
        audit_record(actor=actor, action="compliance.attest", obj=attestation,
                     data={"system": system.slug, "control": control, "expires_at": expires_at.isoformat()})
        # Attestations are facts the framework_controls check reads: the stored gate verdict must go.
        readiness_changed(system=system, reason=f"{control} attested")
    return attestation


def operator_profile_set(*, actor: User, system: AISystem, role: str, gpai_model: str = GpaiModel.NONE,
                         generative: bool = False, note: str = "") -> OperatorProfile:
    """Say how the organisation stands towards the system under the EU AI Act (audited)."""
    if not can_attest(actor, system):
        raise NotAllowed("only the system's owners and the governance team may set its operator role")
    if role not in OperatorRole.values:
        raise DomainError(f"Operator role: choose one of {', '.join(OperatorRole.values)}", field="role")
    if gpai_model not in GpaiModel.values:
        raise DomainError(f"General-purpose AI model: choose one of {', '.join(GpaiModel.values)}", field="gpai_model")
    with transaction.atomic():
        profile, _ = OperatorProfile.objects.select_for_update().update_or_create(
            system=system, defaults={"role": role, "gpai_model": gpai_model, "generative": generative,
                                     "note": note.strip(), "updated_by": actor})
        audit_record(actor=actor, action="compliance.operator_profile", obj=profile,
                     data={"system": system.slug, "role": role, "gpai_model": gpai_model, "generative": generative})
        readiness_changed(system=system, reason="operator role set")
    return profile
