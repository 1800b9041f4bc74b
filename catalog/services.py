"""Every write to the catalog: typed, atomic, audited."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from catalog import card_formats
from catalog.card_templates import TEMPLATES
from catalog.choices import (
    LIFECYCLE_TRANSITIONS,
    CardTemplate,
    DataCategory,
    LifecycleStage,
    ModelCardStatus,
    RiskTier,
)
from catalog.models import AISystem, EvalResult, ModelCard
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition
from clearance.outbox import outbox_enqueue

# The structured sections (one list, in card_formats) plus the free Markdown that holds the rest.
MODEL_CARD_SECTIONS = (*card_formats.SECTIONS, "body_markdown")
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


def parse_metric_targets(text: str) -> list[dict[str, Any]]:
    """'accuracy >= 0.9' per line → [{metric, op, threshold}]; a bad line is named."""
    targets = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([\w.\-/]+)\s*(>=|<=)\s*(-?[0-9]*\.?[0-9]+(?:[eE]-?[0-9]+)?)\s*", line)
        if not match:
            raise DomainError(f"line {number}: write a target as 'metric >= 0.8' or 'metric <= 0.1'",
                              field="metric_targets")
        targets.append({"metric": match.group(1), "op": match.group(2), "threshold": float(match.group(3))})
    return targets


def format_metric_targets(targets: list[dict[str, Any]]) -> str:
    return "\n".join(f"{t['metric']} {t['op']} {t['threshold']:g}" for t in targets)


def _check_sections(sections: dict[str, Any]) -> None:
    unknown = set(sections) - set(MODEL_CARD_SECTIONS)
    if unknown:
        raise DomainError(f"unknown model card section(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])


def _lock_draft(system: AISystem, actor: Any, *, template: str = "") -> tuple[ModelCard, bool]:
    """The system's draft, created from the last version (or a template) when there is none."""
    AISystem.objects.select_for_update().get(pk=system.pk)
    draft = ModelCard.objects.select_for_update().filter(system=system, status=ModelCardStatus.DRAFT).first()
    if draft is not None:
        return draft, False
    last = ModelCard.objects.filter(system=system).order_by("-version").first()
    start: dict[str, Any] = {}
    if last is not None:
        start = {name: getattr(last, name) for name in (*MODEL_CARD_SECTIONS, *CARRIED_FIELDS)}
    elif template:
        if template not in CardTemplate.values:
            raise DomainError(f"unknown template {template!r}", field="template")
        start = {**TEMPLATES[template], "template": template}
    version = (ModelCard.objects.filter(system=system).aggregate(v=Max("version"))["v"] or 0) + 1
    draft = ModelCard.objects.create(system=system, version=version, created_by=actor, **start)
    audit_record(actor=actor, action="model_card.draft_created", obj=draft,
                 data={"version": version, "from_version": last.version if last else None, "template": template})
    return draft, True


# What a new version inherits from the last besides the sections.
CARRIED_FIELDS = ("template", "metric_targets", "source_format", "source_document", "review_due")


def model_card_draft(
    *, actor: Any, system: AISystem, template: str = "", metric_targets: list[dict[str, Any]] | None = None,
    review_due: Any = None, **sections: str,
) -> ModelCard:
    """Start a new draft (from the last version, or a template for the first) or edit the draft."""
    _check_sections(sections)
    with transaction.atomic():
        draft, _ = _lock_draft(system, actor, template=template)
        return _apply_edit(actor=actor, card=draft, sections=sections, metric_targets=metric_targets,
                           review_due=review_due)


def model_card_update(
    *, actor: Any, card: ModelCard, metric_targets: list[dict[str, Any]] | None = None, review_due: Any = None,
    **sections: str,
) -> ModelCard:
    """Edit one draft in place; a published version refuses (the next edit starts a new version)."""
    _check_sections(sections)
    with transaction.atomic():
        locked = ModelCard.objects.select_for_update().get(pk=card.pk)
        if locked.status != ModelCardStatus.DRAFT:
            raise InvalidTransition(
                f"model card v{locked.version} is published and cannot change; editing starts a new draft version"
            )
        return _apply_edit(actor=actor, card=locked, sections=sections, metric_targets=metric_targets,
                           review_due=review_due)


def _apply_edit(*, actor: Any, card: ModelCard, sections: dict[str, str], metric_targets: Any,
                review_due: Any) -> ModelCard:
    changes: dict[str, Any] = {name: value for name, value in sections.items() if getattr(card, name) != value}
    if metric_targets is not None and metric_targets != card.metric_targets:
        changes["metric_targets"] = metric_targets
    if review_due is not None and review_due != card.review_due:
        changes["review_due"] = review_due
    if not changes:
        return card
    for name, value in changes.items():
        setattr(card, name, value)
    card.save(update_fields=list(changes))
    audit_record(actor=actor, action="model_card.draft_edited", obj=card, data={"sections": sorted(changes)})
    return card


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


IMPORT_FORMATS = ("huggingface", "model_card_toolkit")
MAX_IMPORT_BYTES = 2 * 1024 * 1024


def model_card_import(*, actor: Any, system: AISystem, fmt: str, content: bytes, filename: str) -> ModelCard:
    """Import a Hugging Face README or a Model Card Toolkit JSON into the system's draft card.

    The whole file is parsed and checked before anything is written; its metric results become
    evaluation evidence in the same transaction, so a refusal leaves nothing behind."""
    if fmt not in IMPORT_FORMATS:
        raise DomainError(f"format must be one of {', '.join(IMPORT_FORMATS)}", field="format")
    if len(content) > MAX_IMPORT_BYTES:
        raise DomainError("the file is larger than 2 MiB", field="file")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DomainError(f"byte {exc.start}: the file is not UTF-8 text", field="file") from exc
    if fmt == "huggingface":
        parsed = card_formats.parse_hugging_face(text, filename=filename)
    else:
        parsed = card_formats.parse_model_card_toolkit(text, filename=filename)
    now = timezone.now()
    source = f"{fmt}:{filename}"[:200]
    with transaction.atomic():
        draft, _ = _lock_draft(system, actor)
        for name, value in parsed.sections.items():
            setattr(draft, name, value)
        draft.source_format = parsed.source_format
        draft.source_document = parsed.source_document
        draft.save()
        created = 0
        for row in parsed.evals:
            _, was_created = eval_result_record(
                system=system, metric=row.metric, value=row.value, source=source, source_run_id=row.run_id,
                observed_at=now, dataset=row.dataset, model_version=system.model_version, actor=actor,
            )
            created += was_created
        audit_record(actor=actor, action="model_card.imported", obj=draft,
                     data={"format": fmt, "filename": filename, "version": draft.version,
                           "evaluation_results": len(parsed.evals), "new_evaluation_results": created})
    return draft


def _card_evals(card: ModelCard) -> list[card_formats.EvalRow]:
    rows = []
    for target in card.metric_targets or []:
        latest = card.system.eval_results.filter(metric=target["metric"]).order_by("-observed_at").first()
        if latest is not None:
            rows.append(card_formats.EvalRow(metric=latest.metric, value=latest.value, dataset=latest.dataset,
                                             run_id=latest.source_run_id))
    return rows


def model_card_export(*, actor: Any, card: ModelCard, fmt: str) -> tuple[str, str, str]:
    """(filename, content type, text) of the card in a Hugging Face or Model Card Toolkit file; audited."""
    if fmt not in IMPORT_FORMATS:
        raise DomainError(f"format must be one of {', '.join(IMPORT_FORMATS)}", field="format")
    sections = {name: getattr(card, name) for name in MODEL_CARD_SECTIONS}
    doc = card.source_document if card.source_format == fmt else {}
    system = card.system
    if fmt == "huggingface":
        text = card_formats.export_hugging_face(sections=sections, source_document=doc, name=system.slug,
                                                evals=_card_evals(card))
        filename, content_type = f"{system.slug}-v{card.version}-README.md", "text/markdown; charset=utf-8"
    else:
        owners = [{"name": u.get_full_name() or u.get_username(), "contact": u.email}
                  for u in (system.business_owner, system.technical_owner, system.risk_owner) if u is not None]
        text = card_formats.dump_json(card_formats.export_model_card_toolkit(
            sections=sections, source_document=doc, name=system.name, version=card.version, owners=owners,
            evals=_card_evals(card)))
        filename, content_type = f"{system.slug}-v{card.version}-model_card.json", "application/json"
    with transaction.atomic():
        audit_record(actor=actor, action="model_card.exported", obj=card,
                     data={"format": fmt, "version": card.version, "bytes": len(text.encode())})
    return filename, content_type, text


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
