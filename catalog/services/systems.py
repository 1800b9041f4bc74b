"""Writes to AI systems: creation, owners, tier, lifecycle, settings. Typed, atomic, audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from catalog.choices import (
    LIFECYCLE_TRANSITIONS,
    DataCategory,
    LifecycleStage,
    RiskTier,
)
from catalog.models import AISystem
from catalog.permissions import owner_problems
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition, labelled_error
from clearance.outbox import outbox_enqueue


def readiness_changed(*, system: AISystem, reason: str) -> None:
    """A fact the readiness policy reads changed: bump the system's facts version in this transaction
    (so the gate stops serving its stored verdict the moment this commits) and ask for the readiness
    to be recomputed after it commits. Every service that changes such a fact calls this."""
    from governance.services.readiness import facts_changed  # governance builds on catalog, not back

    facts_changed(system_id=system.pk)
    outbox_enqueue(task_name="governance.recompute_readiness", system_id=system.pk, reason=reason)


def system_create(
    *,
    actor: User | None,
    name: str,
    slug: str = "",
    purpose: str,
    risk_tier: str,
    business_owner: User | None = None,
    technical_owner: User | None = None,
    risk_owner: User | None = None,
    requested_by: User | None = None,
    vendor: str = "",
    model_name: str = "",
    data_categories: list[str] | None = None,
) -> AISystem:
    slug = slugify(slug or name)[:80]
    if not slug:
        raise DomainError("a slug needs letters or digits", field="slug")
    if not name.strip():
        raise DomainError("a system needs a name", field="name")
    if risk_tier not in RiskTier.values:
        raise DomainError(f"unknown risk tier {risk_tier!r}", field="risk_tier")
    unknown = set(data_categories or []) - set(DataCategory.values)
    if unknown:
        raise DomainError(f"unknown data categories: {', '.join(sorted(unknown))}", field="data_categories")
    problems = owner_problems(business=business_owner, technical=technical_owner, risk=risk_owner)
    if problems:
        raise labelled_error({f"{kind}_owner": msgs for kind, msgs in problems.items()})
    try:
        with transaction.atomic():
            system = AISystem.objects.create(
                slug=slug,
                name=name.strip(),
                purpose=purpose,
                risk_tier=risk_tier,
                business_owner=business_owner,
                technical_owner=technical_owner,
                risk_owner=risk_owner,
                requested_by=requested_by,
                vendor=vendor,
                model_name=model_name,
                data_categories=sorted(set(data_categories or [])),
            )
            audit_record(actor=actor, action="system.created", obj=system, data={"slug": slug, "risk_tier": risk_tier})
            readiness_changed(system=system, reason="system created")
    except IntegrityError as exc:
        raise DomainError(f"the slug '{slug}' is already taken", field="slug") from exc
    return system


def system_set_owners(*, actor: User, system: AISystem, business: User | None, technical: User | None, risk: User | None) -> AISystem:
    problems = owner_problems(business=business, technical=technical, risk=risk)
    if problems:
        raise labelled_error(problems)
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        before = {"business": locked.business_owner_id, "technical": locked.technical_owner_id, "risk": locked.risk_owner_id}
        locked.business_owner, locked.technical_owner, locked.risk_owner = business, technical, risk
        locked.save(update_fields=["business_owner", "technical_owner", "risk_owner", "updated_at"])
        after = {"business": locked.business_owner_id, "technical": locked.technical_owner_id, "risk": locked.risk_owner_id}
        audit_record(actor=actor, action="system.owners_changed", obj=locked, data={"before": before, "after": after})
        readiness_changed(system=locked, reason="owners changed")
    return locked


def system_set_evaluation_target(
    *, actor: User | None, system: AISystem, metric: str, threshold: float, higher_is_better: bool = True
) -> AISystem:
    if not metric.strip():
        raise DomainError("name the metric that gates deployment", field="primary_metric")
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        locked.primary_metric = metric.strip()
        locked.metric_threshold = threshold
        locked.metric_higher_is_better = higher_is_better
        locked.save(update_fields=["primary_metric", "metric_threshold", "metric_higher_is_better", "updated_at"])
        # The metric's requirement row (dataset, age, regression) states the same threshold.
        locked.metric_requirements.filter(metric=locked.primary_metric).update(
            threshold=threshold, higher_is_better=higher_is_better)
        audit_record(
            actor=actor,
            action="system.evaluation_target_set",
            obj=locked,
            data={"metric": metric, "threshold": threshold, "higher_is_better": higher_is_better},
        )
        readiness_changed(system=locked, reason="evaluation target changed")
    return locked


def system_move_lifecycle(*, actor: User, system: AISystem, to: str) -> AISystem:
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        if to not in LIFECYCLE_TRANSITIONS.get(locked.lifecycle_stage, frozenset()):
            raise InvalidTransition(
                f"a system in {locked.get_lifecycle_stage_display()} cannot move to {LifecycleStage(to).label}",
                field="lifecycle_stage",
            )
        before = locked.lifecycle_stage
        locked.lifecycle_stage = to
        locked.save(update_fields=["lifecycle_stage", "updated_at"])
        audit_record(actor=actor, action="system.lifecycle_changed", obj=locked, data={"from": before, "to": to})
        readiness_changed(system=locked, reason=f"lifecycle moved to {to}")
    return locked


def system_set_tier(*, actor: User, system: AISystem, tier: str, reason: str) -> AISystem:
    if tier not in RiskTier.values:
        raise DomainError(f"unknown risk tier {tier!r}", field="risk_tier")
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        if locked.risk_tier == tier:
            return locked
        before = locked.risk_tier
        locked.risk_tier = tier
        locked.save(update_fields=["risk_tier", "updated_at"])
        audit_record(actor=actor, action="system.tier_changed", obj=locked,
                     data={"from": before, "to": tier, "reason": reason})
        readiness_changed(system=locked, reason="tier changed")
    return locked


SETTINGS_FIELDS = ("name", "purpose", "vendor", "model_name", "model_version", "repo_url", "runbook_url", "dashboard_url")


def system_update(*, actor: User, system: AISystem, **fields: Any) -> AISystem:
    """Change descriptive fields; a new model version makes older evaluation evidence not count."""
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise DomainError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "name" in fields and not str(fields["name"]).strip():
        raise DomainError("a system needs a name", field="name")
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        changed = {name: {"from": getattr(locked, name), "to": value} for name, value in fields.items()
                   if getattr(locked, name) != value}
        if not changed:
            return locked
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.full_clean(exclude=["slug"])
        locked.save()
        audit_record(actor=actor, action="system.updated", obj=locked, data=changed)
        readiness_changed(system=locked, reason="settings changed")
    return locked
