"""Model card pages: edit, import, detail, export, compare and publish."""

from __future__ import annotations

import difflib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.choices import CardSourceFormat, CardTemplate, ModelCardStatus
from catalog.forms.cards import ModelCardForm, ModelCardImportForm
from catalog.lib.card_templates import TEMPLATES
from catalog.models import AISystem, ModelCard
from catalog.permissions import can_edit_system
from catalog.services.cards import (
    IMPORT_FORMATS,
    MAX_IMPORT_BYTES,
    MODEL_CARD_SECTIONS,
    SECTION_LABELS,
    format_metric_targets,
    import_summary,
    model_card_draft,
)
from catalog.services.cards import model_card_export as model_card_export_service
from catalog.services.cards import model_card_import as model_card_import_service
from catalog.services.cards import model_card_publish as model_card_publish_service
from catalog.views.systems import _editable_system
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, run_service


@login_required
@require_http_methods(["GET", "POST"])
def model_card_edit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _editable_system(request, slug)
    draft = ModelCard.objects.filter(system=system, status=ModelCardStatus.DRAFT).first()
    last = draft or ModelCard.objects.filter(system=system).order_by("-version").first()
    template = request.GET.get("template", "") if last is None else ""
    if template and template not in CardTemplate.values:
        template = ""
    if last is not None:
        initial = {name: getattr(last, name) for name in ModelCardForm.Meta.fields}
        initial.update(metric_targets=format_metric_targets(last.metric_targets), review_due=last.review_due)
    elif template:
        start = TEMPLATES[template]
        initial = {name: start.get(name, "") for name in ModelCardForm.Meta.fields}
        targets = start["metric_targets"]
        initial["metric_targets"] = format_metric_targets(targets if isinstance(targets, list) else [])
    else:
        initial = {}
    form = ModelCardForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        sections = {name: form.cleaned_data[name] for name in ModelCardForm.Meta.fields}
        chosen = request.POST.get("template", "")
        card = run_service(
            request, form,
            lambda: model_card_draft(
                actor=request.user, system=system, template=chosen if chosen in CardTemplate.values else "",
                metric_targets=form.cleaned_data["metric_targets"], review_due=form.cleaned_data["review_due"],
                **sections),
            "Draft saved.")
        if card is not None and "publish" in request.POST:
            card = run_service(request, form, lambda: model_card_publish_service(actor=request.user, card=card),
                               f"Model card v{card.version} published.")
        if card is not None:
            return redirect("model-card-detail", slug=system.slug, version=card.version)
    return render(request, "catalog/model_card_form.html", {
        "system": system, "form": form, "draft": draft, "last": last, "template": template,
        "templates": CardTemplate.choices, "import_form": ModelCardImportForm(),
        "import_report": _import_report(draft),
    })


def _import_report(card: ModelCard | None) -> dict[str, Any] | None:
    """What the import behind this draft recognised, for the edit page."""
    if card is None:
        return None
    report = (card.source_document or {}).get("report")
    if not report:
        return None
    return {
        "filename": card.source_document.get("filename", ""),
        "format": card.get_source_format_display(),
        "recognised": [{**r, "label": SECTION_LABELS.get(r["section"], r["section"])} for r in report.get("recognised", [])],
        "unrecognised": report.get("unrecognised", []),
        "date": report.get("date", ""),
        "fields": card.source_format == "model_card_toolkit",
    }


@login_required
@require_POST
def model_card_import(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _editable_system(request, slug)
    form = ModelCardImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        content = upload.read(MAX_IMPORT_BYTES + 1)
        card = run_service(
            request, form,
            lambda: model_card_import_service(actor=request.user, system=system, fmt=form.cleaned_data["format"],
                                               content=content, filename=upload.name),
            "Imported into the draft; review it, then publish.")
        if card is not None:
            messages.info(request, f"From {upload.name}: {import_summary(card)}")
            return redirect("model-card-detail", slug=system.slug, version=card.version)
    for field, errors in form.errors.items():
        for error in errors:
            messages.error(request, f"{field}: {error}" if field != "__all__" else str(error))
    return redirect("model-card-edit", slug=system.slug)


def _visible_card(request: AuthenticatedHttpRequest, slug: str, version: int) -> tuple[AISystem, ModelCard]:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    card = get_visible_or_404(ModelCard.objects.select_related("published_by", "created_by", "system"),
                              system=system, version=version)
    return system, card


@login_required
def model_card_detail(request: AuthenticatedHttpRequest, slug: str, version: int) -> HttpResponse:
    system, card = _visible_card(request, slug, version)
    versions = list(ModelCard.objects.filter(system=system).order_by("-version").values_list("version", flat=True))
    sections = [(name, SECTION_LABELS[name], getattr(card, name)) for name in MODEL_CARD_SECTIONS]
    return render(request, "catalog/model_card_detail.html", {
        "system": system, "card": card, "sections": sections, "versions": versions,
        "editable": can_edit_system(request.user, system), "formats": CardSourceFormat.choices,
        "import_report": _import_report(card),
    })


@login_required
def model_card_export(request: AuthenticatedHttpRequest, slug: str, version: int, fmt: str) -> HttpResponse:
    system, card = _visible_card(request, slug, version)
    if fmt not in IMPORT_FORMATS:
        raise Http404("unknown format")
    filename, content_type, text = model_card_export_service(actor=request.user, card=card, fmt=fmt)
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def model_card_compare(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    cards = {c.version: c for c in ModelCard.objects.filter(system=system).select_related("published_by")}
    if not cards:
        raise Http404("no model card")
    newest = max(cards)

    def pick(name: str, default: int) -> ModelCard:
        try:
            return cards[int(request.GET.get(name, default))]
        except (KeyError, ValueError):
            raise Http404("no such version") from None

    left, right = pick("a", max(newest - 1, min(cards))), pick("b", newest)
    rows = []
    for name in MODEL_CARD_SECTIONS:
        a, b = getattr(left, name), getattr(right, name)
        rows.append({"label": SECTION_LABELS[name], "a": a, "b": b, "changed": a != b,
                     "diff": _line_diff(a, b) if a != b else []})
    targets_a = format_metric_targets(left.metric_targets)
    targets_b = format_metric_targets(right.metric_targets)
    rows.append({"label": "Metric thresholds", "a": targets_a, "b": targets_b, "changed": targets_a != targets_b,
                 "diff": _line_diff(targets_a, targets_b)})
    return render(request, "catalog/model_card_compare.html", {
        "system": system, "left": left, "right": right, "rows": rows, "versions": sorted(cards, reverse=True),
    })


def _line_diff(a: str, b: str) -> list[tuple[str, str]]:
    """(kind, line) pairs: '-' only in the older, '+' only in the newer, ' ' in both."""
    out = []
    for line in difflib.ndiff(a.splitlines(), b.splitlines()):
        if line.startswith("? "):
            continue
        out.append((line[0], line[2:]))
    return out


@login_required
@require_POST
def model_card_publish(request: AuthenticatedHttpRequest, slug: str, version: int) -> HttpResponse:
    system = _editable_system(request, slug)
    card = get_visible_or_404(ModelCard.objects.all(), system=system, version=version)
    run_service(request, None, lambda: model_card_publish_service(actor=request.user, card=card),
                f"Model card v{card.version} published.")
    return redirect("model-card-detail", slug=system.slug, version=card.version)
