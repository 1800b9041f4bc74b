"""Writes to model cards: drafts, edits, publishing, import and export in the Hugging Face
and Model Card Toolkit formats. Typed, atomic, audited."""

from __future__ import annotations

import math
import re
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog.choices import (
    CardTemplate,
    ModelCardStatus,
)
from catalog.lib import card_formats
from catalog.lib.card_templates import TEMPLATES
from catalog.models import AISystem, EvalResult, ModelCard
from catalog.services.evidence import eval_result_record
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError, InvalidTransition
from clearance.untrusted import fit_identifier, text_problem

# The structured sections (one list, in card_formats) plus the free Markdown that holds the rest.
MODEL_CARD_SECTIONS = (*card_formats.SECTIONS, "body_markdown")
SECTION_LABELS = {**card_formats.SECTION_TITLES, "limitations": "Limitations", "caveats": "Caveats and recommendations",
                  "body_markdown": "Further notes"}


# A card cannot be published with these empty: they are what a reader needs first.
REQUIRED_FOR_PUBLISH = ("model_details", "intended_use", "limitations")


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
        if len(match.group(1)) > card_formats.METRIC_MAX:
            raise DomainError(f"line {number}: a metric name has at most {card_formats.METRIC_MAX} characters",
                              field="metric_targets")
        threshold = float(match.group(3))
        if not math.isfinite(threshold):
            raise DomainError(f"line {number}: {match.group(3)} is not a finite number", field="metric_targets")
        targets.append({"metric": match.group(1), "op": match.group(2), "threshold": threshold})
    return targets


def format_metric_targets(targets: list[dict[str, Any]]) -> str:
    return "\n".join(f"{t['metric']} {t['op']} {t['threshold']:g}" for t in targets)


def _check_sections(sections: dict[str, Any]) -> None:
    unknown = set(sections) - set(MODEL_CARD_SECTIONS)
    if unknown:
        raise DomainError(f"unknown model card section(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])


def _lock_draft(system: AISystem, actor: User, *, template: str = "") -> tuple[ModelCard, bool]:
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
    *, actor: User, system: AISystem, template: str = "", metric_targets: list[dict[str, Any]] | None = None,
    review_due: Any = None, **sections: str,
) -> ModelCard:
    """Start a new draft (from the last version, or a template for the first) or edit the draft."""
    _check_sections(sections)
    with transaction.atomic():
        draft, _ = _lock_draft(system, actor, template=template)
        return _apply_edit(actor=actor, card=draft, sections=sections, metric_targets=metric_targets,
                           review_due=review_due)


def _apply_edit(*, actor: User, card: ModelCard, sections: dict[str, str], metric_targets: Any,
                review_due: Any) -> ModelCard:
    # Browsers submit textareas with CRLF line breaks; a card stores LF, so an unchanged section
    # saved from the form is unchanged here too.
    sections = {name: card_formats.normalize_newlines(value) for name, value in sections.items()}
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


def model_card_publish(*, actor: User, card: ModelCard) -> ModelCard:
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


def model_card_import(*, actor: User, system: AISystem, fmt: str, content: bytes, filename: str) -> ModelCard:
    """Import a Hugging Face README or a Model Card Toolkit JSON into the system's draft card.

    The whole file is parsed and checked before anything is written; its metric results become
    evaluation evidence in the same transaction, so a refusal leaves nothing behind."""
    if fmt not in IMPORT_FORMATS:
        raise DomainError(f"format must be one of {', '.join(IMPORT_FORMATS)}", field="format")
    if len(content) > MAX_IMPORT_BYTES:
        raise DomainError("the file is larger than 2 MiB", field="file")
    if text_problem(filename) or len(filename) > 255:
        raise DomainError("the file name is not one that can be kept (a NUL character, or too long)", field="file")
    try:
        # The parsers take the byte-order mark off themselves and put it back on export.
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DomainError(f"byte {exc.start}: the file is not UTF-8 text", field="file") from exc
    if fmt == "huggingface":
        parsed = card_formats.parse_hugging_face(text, filename=filename)
    else:
        parsed = card_formats.parse_model_card_toolkit(text, filename=filename)
    now = timezone.now()
    # Results are as of the card's own date when it states one, not as of the import.
    observed_at = parsed.observed_at or now
    if observed_at > now:
        raise DomainError(f"the card is dated {observed_at.date().isoformat()}, in the future: its results cannot "
                          "have been observed yet", field="file")
    # Part of the results' natural key: a long file name keeps its start and a digest of the whole,
    # so two cards whose names differ only past the column's end stay two sources.
    source = fit_identifier(f"{fmt}:{filename}", EvalResult._meta.get_field("source").max_length or 200)
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
                observed_at=observed_at, dataset=row.dataset, model_version=system.model_version,
                dataset_type=row.dataset_type, num_few_shot=row.num_few_shot, source_url=row.source_url, actor=actor,
            )
            created += was_created
        audit_record(actor=actor, action="model_card.imported", obj=draft,
                     data={"format": fmt, "filename": filename, "version": draft.version,
                           "evaluation_results": len(parsed.evals), "new_evaluation_results": created,
                           "observed_at": observed_at.isoformat(),
                           "sections_recognised": [r["heading"] for r in parsed.report.get("recognised", [])],
                           "not_recognised": [r["heading"] for r in parsed.report.get("unrecognised", [])]})
    return draft


def import_summary(card: ModelCard) -> str:
    """One sentence on what the last import of the card recognised and what it kept as it was."""
    report = (card.source_document or {}).get("report") or {}
    recognised = report.get("recognised") or []
    unrecognised = report.get("unrecognised") or []
    fields = card.source_format == "model_card_toolkit"
    parts: list[str] = []
    if recognised:
        names = sorted({SECTION_LABELS.get(r["section"], r["section"]) for r in recognised},
                       key=lambda label: list(SECTION_LABELS.values()).index(label))
        parts.append(f"recognised {', '.join(names)}")
    if unrecognised:
        what = "field(s) kept as they are" if fields else "heading(s) kept in further notes"
        parts.append(f"{len(unrecognised)} {what}: {', '.join(r['heading'] for r in unrecognised[:8])}"
                     + (" …" if len(unrecognised) > 8 else ""))
    if not recognised:
        parts.append("no section recognised" if not fields else "no field recognised")
    if report.get("date"):
        parts.append(report["date"])
    return "; ".join(parts) + "."


def _card_evals(card: ModelCard) -> list[card_formats.EvalRow]:
    rows = []
    for target in card.metric_targets or []:
        latest = card.system.eval_results.filter(metric=target["metric"]).order_by("-observed_at").first()
        if latest is not None:
            rows.append(card_formats.EvalRow(metric=latest.metric, value=latest.value, dataset=latest.dataset,
                                             run_id=latest.source_run_id, dataset_type=latest.dataset_type,
                                             num_few_shot=latest.num_few_shot, source_url=latest.source_url))
    return rows


def model_card_export(*, actor: User, card: ModelCard, fmt: str) -> tuple[str, str, str]:
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
        text = card_formats.export_model_card_toolkit(
            sections=sections, source_document=doc, name=system.name, version=card.version, owners=owners,
            evals=_card_evals(card))
        filename, content_type = f"{system.slug}-v{card.version}-model_card.json", "application/json"
    with transaction.atomic():
        audit_record(actor=actor, action="model_card.exported", obj=card,
                     data={"format": fmt, "version": card.version, "bytes": len(text.encode())})
    return filename, content_type, text
