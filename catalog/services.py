"""Every write to the catalog: typed, atomic, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from catalog.choices import LIFECYCLE_TRANSITIONS, DataCategory, LifecycleStage, ModelCardStatus, RiskTier
from catalog.models import AISystem, EvalResult, ModelCard
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition
from clearance.outbox import outbox_enqueue

MODEL_CARD_SECTIONS = (
    "model_details",
    "intended_use",
    "out_of_scope_use",
    "training_data",
    "evaluation_data",
    "metrics",
    "limitations",
    "ethical_considerations",
    "caveats",
    "body_markdown",
)
# A card cannot be published with these empty: they are what a reader needs first.
REQUIRED_FOR_PUBLISH = ("model_details", "intended_use", "limitations")


def readiness_changed(*, system: AISystem, reason: str) -> None:
    """Ask for the system's readiness to be recomputed after this transaction commits."""
    outbox_enqueue(task_name="governance.recompute_readiness", system_id=system.pk, reason=reason)


def system_create(
    *,
    actor: Any,
    name: str,
    slug: str = "",
    purpose: str,
    risk_tier: str,
    business_owner: Any = None,
    technical_owner: Any = None,
    risk_owner: Any = None,
    requested_by: Any = None,
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


def system_set_owners(*, actor: Any, system: AISystem, business: Any, technical: Any, risk: Any) -> AISystem:
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
    *, actor: Any, system: AISystem, metric: str, threshold: float, higher_is_better: bool = True
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


def system_move_lifecycle(*, actor: Any, system: AISystem, to: str) -> AISystem:
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


def system_set_tier(*, actor: Any, system: AISystem, tier: str, reason: str) -> AISystem:
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


def model_card_draft(*, actor: Any, system: AISystem, **sections: str) -> ModelCard:
    """Start a new draft (from the last version's text when no section is given) or edit the draft."""
    unknown = set(sections) - set(MODEL_CARD_SECTIONS)
    if unknown:
        raise DomainError(f"unknown model card section(s): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        AISystem.objects.select_for_update().get(pk=system.pk)
        draft = ModelCard.objects.filter(system=system, status=ModelCardStatus.DRAFT).first()
        if draft is None:
            last = ModelCard.objects.filter(system=system).order_by("-version").first()
            start = {name: getattr(last, name) for name in MODEL_CARD_SECTIONS} if last else {}
            version = (ModelCard.objects.filter(system=system).aggregate(v=Max("version"))["v"] or 0) + 1
            draft = ModelCard.objects.create(system=system, version=version, created_by=actor, **{**start, **sections})
            audit_record(actor=actor, action="model_card.draft_created", obj=draft, data={"version": version})
        elif sections:
            for name, value in sections.items():
                setattr(draft, name, value)
            draft.save(update_fields=list(sections))
            audit_record(actor=actor, action="model_card.draft_edited", obj=draft, data={"sections": sorted(sections)})
    return draft


def model_card_publish(*, actor: Any, card: ModelCard) -> ModelCard:
    with transaction.atomic():
        locked = ModelCard.objects.select_for_update().get(pk=card.pk)
        if locked.status != ModelCardStatus.DRAFT:
            raise InvalidTransition(f"model card v{locked.version} is already published")
        empty = [name for name in REQUIRED_FOR_PUBLISH if not getattr(locked, name).strip()]
        if empty:
            raise DomainError(
                f"fill in {', '.join(n.replace('_', ' ') for n in empty)} before publishing", field=empty[0]
            )
        locked.status = ModelCardStatus.PUBLISHED
        locked.published_by = actor
        locked.published_at = timezone.now()
        locked.save(update_fields=["status", "published_by", "published_at"])
        audit_record(actor=actor, action="model_card.published", obj=locked, data={"version": locked.version})
        readiness_changed(system=locked.system, reason=f"model card v{locked.version} published")
    return locked


def eval_result_record(
    *,
    system: AISystem,
    metric: str,
    value: float,
    source: str,
    source_run_id: str,
    observed_at: datetime,
    dataset: str = "",
    model_version: str = "",
    actor: Any = None,
) -> tuple[EvalResult, bool]:
    """Idempotent by the natural key; returns (result, created)."""
    if observed_at > timezone.now():
        raise DomainError("an evaluation cannot be observed in the future", field="observed_at")
    with transaction.atomic():
        result, created = EvalResult.objects.get_or_create(
            system=system,
            source=source,
            source_run_id=source_run_id,
            metric=metric,
            dataset=dataset,
            defaults={"value": value, "observed_at": observed_at, "model_version": model_version},
        )
        if created:
            audit_record(
                actor=actor,
                action="eval_result.ingested",
                obj=result,
                data={"metric": metric, "value": value, "source": source, "run": source_run_id},
            )
            readiness_changed(system=system, reason=f"new {metric} result")
    return result, created


SETTINGS_FIELDS = ("name", "purpose", "vendor", "model_name", "model_version", "repo_url", "runbook_url", "dashboard_url")


def system_update(*, actor: Any, system: AISystem, **fields: Any) -> AISystem:
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
