"""Writes to the risk register: each one checks its input (errors name the field by its label),
locks what it changes, records an audit event in the same transaction and asks for the readiness of
the linked systems to be recomputed (the ``risks_treated`` check reads the register)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, NotAllowed, labelled_error
from clearance.untrusted import text_problem
from risks.choices import AcceptanceStatus, Treatment
from risks.models import Risk, RiskAcceptance, scale, snapshot_fingerprint
from risks.permissions import can_accept_risk, can_record_risk
from risks.taxonomy import category

LABELS = {
    "systems": "Systems",
    "title": "Title",
    "description": "Description",
    "category": "Category",
    "cause": "Cause",
    "consequence": "Consequence",
    "owner": "Risk owner",
    "likelihood": "Likelihood before treatment",
    "impact": "Impact before treatment",
    "residual_likelihood": "Likelihood after treatment",
    "residual_impact": "Impact after treatment",
    "treatment": "Treatment",
    "treatment_rationale": "Treatment rationale",
    "controls": "Mitigating controls and requirements",
    "review_date": "Review date",
    "rationale": "Rationale",
    "expires_at": "Expiry",
}
MAX_CONTROLS = 50


@dataclass
class RiskInput:
    """What a person records about a risk (the create and edit forms post all of it)."""

    title: str
    category: str
    owner: User | None
    likelihood: int | None
    impact: int | None
    review_date: date | None
    description: str = ""
    cause: str = ""
    consequence: str = ""
    residual_likelihood: int | None = None
    residual_impact: int | None = None
    treatment: str = ""
    treatment_rationale: str = ""
    controls: list[str] = field(default_factory=list)


def _problems(data: RiskInput, systems: Sequence[AISystem], portfolio_wide: bool) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(f"{LABELS[name]}: {message}")

    if not systems:
        add("systems", "link the risk to at least one system")
    elif not portfolio_wide and len(systems) != 1:
        add(
            "systems", "a risk of one system is linked to exactly one; mark it portfolio-wide to link several"
        )
    for name in ("title", "description", "cause", "consequence", "treatment_rationale"):
        value = getattr(data, name)
        problem = text_problem(value)
        if problem:
            add(name, problem)
    if not data.title.strip():
        add("title", "this field is required")
    elif len(data.title) > 200:
        add("title", "at most 200 characters")
    if category(data.category) is None:
        add("category", f"{data.category!r} is not a subdomain of the risk taxonomy (for example 2.2)")
    if data.owner is None or not data.owner.is_active:
        add("owner", "name an active user who owns this risk")
    likelihood_levels, impact_levels = scale()
    for name, top in (
        ("likelihood", likelihood_levels),
        ("impact", impact_levels),
        ("residual_likelihood", likelihood_levels),
        ("residual_impact", impact_levels),
    ):
        value = getattr(data, name)
        if value is None:
            if name in ("likelihood", "impact"):
                add(name, "this field is required")
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            add(name, f"must be a whole number from 1 to {top}")
    if (data.residual_likelihood is None) != (data.residual_impact is None):
        add("residual_impact", "give both the likelihood and the impact after treatment, or neither")
    if data.treatment and data.treatment not in Treatment.values:
        add("treatment", f"choose one of {', '.join(Treatment.values)}")
    if data.treatment and len(data.treatment_rationale.strip()) < 10:
        add("treatment_rationale", "say in at least 10 characters why this treatment was chosen")
    if data.treatment and data.residual_likelihood is None:
        add("residual_likelihood", "a treated risk needs its likelihood and impact after treatment")
    if (
        not isinstance(data.controls, list)
        or len(data.controls) > MAX_CONTROLS
        or any(
            not isinstance(c, str) or not c.strip() or len(c) > 100 or text_problem(c) for c in data.controls
        )
    ):
        add("controls", f"up to {MAX_CONTROLS} ids of at most 100 characters each")
    if data.review_date is None:
        add("review_date", "this field is required")
    return problems


def _audit_data(risk: Risk) -> dict[str, Any]:
    return {
        "title": risk.title,
        "category": risk.category,
        "owner": risk.owner.get_username(),
        "likelihood": risk.likelihood,
        "impact": risk.impact,
        "residual_likelihood": risk.residual_likelihood,
        "residual_impact": risk.residual_impact,
        "treatment": risk.treatment,
        "controls": risk.controls,
        "review_date": risk.review_date,
        "portfolio_wide": risk.portfolio_wide,
    }


def _apply(risk: Risk, data: RiskInput) -> None:
    assert data.owner is not None and data.likelihood is not None and data.impact is not None
    assert data.review_date is not None
    risk.title = data.title.strip()
    risk.description, risk.cause, risk.consequence = data.description, data.cause, data.consequence
    risk.category, risk.owner = data.category, data.owner
    risk.likelihood, risk.impact = data.likelihood, data.impact
    risk.residual_likelihood, risk.residual_impact = data.residual_likelihood, data.residual_impact
    risk.treatment, risk.treatment_rationale = data.treatment, data.treatment_rationale.strip()
    risk.controls = sorted({c.strip() for c in data.controls})
    risk.review_date = data.review_date


def risk_create(
    *, actor: User, systems: Sequence[AISystem], data: RiskInput, portfolio_wide: bool = False
) -> Risk:
    """Record a risk of one system, or a portfolio-wide risk linked to several."""
    if not can_record_risk(actor, systems, portfolio_wide):
        raise NotAllowed(
            "only the owners of every linked system and the governance team may record this risk"
            if not portfolio_wide
            else "only the governance team records portfolio-wide risks"
        )
    problems = _problems(data, systems, portfolio_wide)
    if problems:
        raise labelled_error(problems)
    now = timezone.now()
    with transaction.atomic():
        risk = Risk(portfolio_wide=portfolio_wide, created_by=actor, created_at=now, updated_at=now)
        _apply(risk, data)
        risk.save()
        risk.systems.set(systems)
        audit_record(
            actor=actor,
            action="risk.create",
            obj=risk,
            data=_audit_data(risk) | {"systems": sorted(s.slug for s in systems)},
        )
        for system in systems:
            readiness_changed(system=system, reason="risk recorded")
    return risk


def risk_update(
    *, actor: User, risk: Risk, data: RiskInput, systems: Sequence[AISystem] | None = None
) -> Risk:
    """Change a risk; a change of its scores or treatment lapses every active acceptance of it."""
    with transaction.atomic():
        locked = Risk.objects.select_for_update().select_related("owner").get(pk=risk.pk)
        before_systems = list(locked.systems.all())
        after_systems = list(systems) if systems is not None else before_systems
        if not (
            can_record_risk(actor, before_systems, locked.portfolio_wide)
            and can_record_risk(actor, after_systems, locked.portfolio_wide)
        ):
            raise NotAllowed(
                "only the owners of every linked system and the governance team may change this risk"
            )
        problems = _problems(data, after_systems, locked.portfolio_wide)
        if problems:
            raise labelled_error(problems)
        before = _audit_data(locked)
        before_fingerprint = snapshot_fingerprint(locked.pinned_snapshot())
        _apply(locked, data)
        now = timezone.now()
        locked.updated_at = now
        locked.save()
        if systems is not None:
            locked.systems.set(after_systems)
        after = _audit_data(locked)
        changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
        audit_record(actor=actor, action="risk.update", obj=locked, data={"changed": changed})
        if snapshot_fingerprint(locked.pinned_snapshot()) != before_fingerprint:
            for acceptance in RiskAcceptance.objects.select_for_update().filter(
                risk=locked, status=AcceptanceStatus.ACTIVE
            ):
                acceptance.status, acceptance.lapsed_at = AcceptanceStatus.LAPSED, now
                acceptance.save(update_fields=["status", "lapsed_at"])
                audit_record(
                    actor=actor,
                    action="risk_acceptance.lapse",
                    obj=acceptance,
                    data={
                        "reason": "the risk's scores or treatment changed",
                        "pinned": acceptance.pinned,
                        "now": locked.pinned_snapshot(),
                    },
                )
        for system in {s.pk: s for s in before_systems + after_systems}.values():
            readiness_changed(system=system, reason="risk changed")
    return locked


def risk_accept(
    *, actor: User, risk: Risk, system: AISystem, rationale: str, expires_at: datetime | None
) -> RiskAcceptance:
    """The system's risk owner accepts the risk's residual level for that system until ``expires_at``;
    pinned to the scores and treatment as they are now. Replaces an earlier active acceptance."""
    if not can_accept_risk(actor, system):
        raise NotAllowed("only the system's risk owner may accept a risk for it")
    problems: dict[str, list[str]] = {}
    rationale = rationale.strip()
    if len(rationale) < 20 or text_problem(rationale):
        problems["rationale"] = [
            f"{LABELS['rationale']}: say in at least 20 characters why this level is acceptable"
        ]
    now = timezone.now()
    longest = int(getattr(settings, "RISK_ACCEPTANCE_MAX_DAYS", 365))
    if expires_at is None or expires_at <= now:
        problems["expires_at"] = [f"{LABELS['expires_at']}: must be in the future"]
    elif expires_at > now + timedelta(days=longest):
        problems["expires_at"] = [f"{LABELS['expires_at']}: an acceptance lasts at most {longest} days"]
    if problems:
        raise labelled_error(problems)
    assert expires_at is not None
    with transaction.atomic():
        locked = Risk.objects.select_for_update().get(pk=risk.pk)
        if not locked.systems.filter(pk=system.pk).exists():
            raise DomainError("the risk is not linked to this system", field="system")
        if not locked.treatment:
            raise DomainError("choose a treatment before accepting the residual risk", field="treatment")
        snapshot = locked.pinned_snapshot()
        for old in RiskAcceptance.objects.select_for_update().filter(
            risk=locked, system=system, status=AcceptanceStatus.ACTIVE
        ):
            old.status = AcceptanceStatus.REVOKED
            old.save(update_fields=["status"])
            audit_record(actor=actor, action="risk_acceptance.replace", obj=old)
        acceptance = RiskAcceptance.objects.create(
            risk=locked,
            system=system,
            approved_by=actor,
            rationale=rationale,
            accepted_at=now,
            expires_at=expires_at,
            pinned=snapshot,
            fingerprint=snapshot_fingerprint(snapshot),
        )
        audit_record(
            actor=actor,
            action="risk_acceptance.create",
            obj=acceptance,
            data={
                "risk": locked.pk,
                "system": system.slug,
                "expires_at": expires_at,
                "pinned": snapshot,
                "rationale": rationale,
            },
        )
        readiness_changed(system=system, reason="risk accepted")
    return acceptance


def acceptances_expire(now: datetime | None = None) -> int:
    """Periodic: mark active acceptances past their expiry as expired, audit each and ask for the
    readiness of its system to be recomputed (through the outbox, in the same transaction).

    The ``risks_treated`` check already ignores an acceptance at the moment it expires; this makes the
    record, the register and the stored verdicts say so too. Safe to run twice or concurrently: each
    row is claimed with a conditional update, and a row already claimed is skipped."""
    now = now or timezone.now()
    count = 0
    due = RiskAcceptance.objects.filter(status=AcceptanceStatus.ACTIVE, expires_at__lte=now)
    for pk in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            claimed = RiskAcceptance.objects.filter(
                pk=pk, status=AcceptanceStatus.ACTIVE, expires_at__lte=now
            ).update(status=AcceptanceStatus.EXPIRED, lapsed_at=now)
            if not claimed:
                continue
            acceptance = RiskAcceptance.objects.select_related("system", "risk", "approved_by").get(pk=pk)
            audit_record(
                actor=None,
                action="risk_acceptance.expire",
                obj=acceptance,
                data={
                    "risk": acceptance.risk_id,
                    "system": acceptance.system.slug,
                    "approved_by": acceptance.approved_by.get_username(),
                    "expires_at": acceptance.expires_at,
                },
            )
            readiness_changed(system=acceptance.system, reason=f"risk acceptance #{pk} expired")
            count += 1
    return count
