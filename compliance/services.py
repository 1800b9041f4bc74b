"""Writes of compliance: a manual attestation of one control for one system, and a system's operator
role. Each checks permission and input, writes in one transaction and audits it there."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, NotAllowed
from compliance.choices import GpaiModel, OperatorRole
from compliance.loader import Library, LibraryError, build_library, import_dir, load_library, read_files
from compliance.models import Attestation, FrameworkImport, OperatorProfile
from compliance.oscal import OscalError, catalog_to_framework
from compliance.permissions import can_attest, can_import_frameworks

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


def framework_import(*, actor: User | None, raw: bytes, framework_id: str, licence: str, source_url: str,
                     source_note: str = "") -> Path:
    """Add (or replace) an organisation framework from an OSCAL catalog (JSON). The catalog is
    validated by trestle's OSCAL model, turned into a framework file, and the whole library with that
    file must load before anything is written; the file then appears in one rename, so a reader sees
    the old library or the new one, never half a file. ``actor`` None: the management command."""
    if actor is not None and not can_import_frameworks(actor):
        raise NotAllowed("only the governance team may import frameworks")
    try:
        text = catalog_to_framework(raw, framework_id=framework_id, licence=licence, source_url=source_url,
                                    source_note=source_note)
    except OscalError as exc:
        raise DomainError(f"OSCAL catalog: {exc}", field="catalog") from exc
    directory = import_dir()
    target = directory / f"{framework_id}.yaml"
    # Replacing an imported framework is allowed; the shipped library's ids are not (build_library says so).
    files = [(p, body) for p, body in read_files() if p.resolve() != target.resolve()]
    try:
        library = build_library([*files, (target, text.encode())])
    except LibraryError as exc:
        raise DomainError("OSCAL catalog: the framework does not fit the library: " + "; ".join(exc.lines()),
                          field="catalog") from exc
    framework = library.frameworks[framework_id]
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{framework_id}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        with transaction.atomic():
            record = FrameworkImport.objects.create(
                framework_id=framework_id, digest=framework.digest, controls=len(framework.controls),
                source_url=source_url, licence=" ".join(licence.split())[:400], text=text, imported_by=actor)
            audit_record(actor=actor, action="compliance.framework_imported", obj=record,
                         data={"framework": framework_id, "controls": len(framework.controls),
                               "families": len(framework.families), "source_url": source_url,
                               "digest": framework.digest})
            # The rename is the last step inside the transaction: a failed audit write leaves no file.
            os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
