"""Model Card Toolkit JSON (schema v0.0.2): fields map to sections; the original text is kept, so
an export splices the edited fields into it and leaves every other byte, graphic and unknown key
as it was. Sections the schema has no field for travel in model_details.documentation."""

from __future__ import annotations

import copy
import difflib
import json
import re
from typing import Any

from catalog.lib import json_splice
from catalog.lib.card_formats.common import (
    SECTIONS,
    EvalRow,
    ParsedCard,
    fit_dataset,
    fit_run_id,
    metric_name,
    metric_value,
    normalize_newlines,
    parse_card_date,
    refuse_nul,
    same_text,
)
from catalog.lib.card_formats.huggingface import markdown_blocks
from clearance.errors import DomainError
from clearance.untrusted import UntrustedInputError, check_storable, load_json

# Sections MCT v0.0.2 has no field for travel in model_details.documentation (a string the schema
# declares for "a thorough description of the model and its usage") under these headings.
MCT_DOCUMENTATION_SECTIONS = {
    "out_of_scope_use": "Out-of-Scope Use",
    "evaluation_data": "Evaluation Data",
    "metrics": "Metrics",
    "body_markdown": "Further Notes",
}
_MCT_DOC_KEYS = {title.lower(): key for key, title in MCT_DOCUMENTATION_SECTIONS.items()}
MCT_FIELDS = {
    ("model_details", "overview"): "model_details",
    ("model_details", "documentation"): "model_details",
    ("model_parameters", "data"): "training_data",
    ("quantitative_analysis", "performance_metrics"): "metrics",
    ("considerations", "use_cases"): "intended_use",
    ("considerations", "limitations"): "limitations",
    ("considerations", "tradeoffs"): "caveats",
    ("considerations", "ethical_considerations"): "ethical_considerations",
}
_METRIC_LINE = re.compile(r"^(?P<type>[^=]+?)\s*=\s*(?P<value>\S+?)(?:\s+\((?P<slice>.*)\))?$")


def _expect_item(value: Any, where: str) -> dict[str, Any]:
    """A list item that must be an object (null is not one)."""
    if not isinstance(value, dict):
        raise DomainError(f"{where}: expected dict, got {type(value).__name__}", field=where)
    return value


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DomainError(f"{where}: expected {names}, got {type(value).__name__}", field=where)
    return value


def _descriptions(items: Any, where: str) -> list[str]:
    _expect(items, list, where)
    out = []
    for i, item in enumerate(items or []):
        _expect_item(item, f"{where}[{i}]")
        out.append(str(_expect(item.get("description", ""), str, f"{where}[{i}].description")))
    return out


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines if line)


def _unbullet(text: str) -> list[str]:
    items: list[str] = []
    for line in normalize_newlines(text).splitlines():
        stripped = line.strip()
        if stripped.startswith(("- ", "* ")):
            items.append(stripped[2:].strip())
        elif stripped and items:
            items[-1] = f"{items[-1]} {stripped}"
        elif stripped:
            items.append(stripped)
    return items


def _split_documentation(documentation: str) -> tuple[str, dict[str, str]]:
    """model_details.documentation → (the text that belongs to model details, {section: text} for
    the sections that travel in it under their headings)."""
    rest: list[str] = []
    carried: dict[str, str] = {}
    for block in markdown_blocks(normalize_newlines(documentation), bold_headings=False):
        key = _MCT_DOC_KEYS.get(block["title"]) if block["kind"] == "atx" and block["level"] == 2 else None
        if key:
            carried[key] = normalize_newlines(block["text"]).strip()
        else:
            rest.append(block["heading"] + block["text"])
    return normalize_newlines("".join(rest)).strip(), carried


def _metric_label(metric: dict[str, Any]) -> str:
    slice_ = str(metric.get("slice") or "")
    return f"{metric.get('type')} = {metric.get('value')}" + (f" ({slice_})" if slice_ else "")


def parse_model_card_toolkit(text: str, *, filename: str = "model_card.json") -> ParsedCard:
    refuse_nul(text)
    bom = text.startswith("\ufeff")
    text = text.removeprefix("\ufeff")
    try:
        doc = load_json(text)
        check_storable(doc)
    except UntrustedInputError as exc:
        raise DomainError(exc.message, field="file") from exc
    if not isinstance(doc, dict):
        raise DomainError(f"(document): expected a JSON object, got {type(doc).__name__}", field="(document)")
    details = _expect(doc.get("model_details"), dict, "model_details") or {}
    params = _expect(doc.get("model_parameters"), dict, "model_parameters") or {}
    quant = _expect(doc.get("quantitative_analysis"), dict, "quantitative_analysis") or {}
    cons = _expect(doc.get("considerations"), dict, "considerations") or {}
    name = str(_expect(details.get("name", ""), str, "model_details.name") or "")
    overview = _expect(details.get("overview", ""), str, "model_details.overview") or ""
    documentation = _expect(details.get("documentation", ""), str, "model_details.documentation") or ""
    doc_rest, carried = _split_documentation(documentation)
    data_lines = []
    for i, item in enumerate(_expect(params.get("data") or [], list, "model_parameters.data")):
        _expect_item(item, f"model_parameters.data[{i}]")
        label = _expect(item.get("name", ""), str, f"model_parameters.data[{i}].name") or f"dataset {i + 1}"
        desc = _expect(item.get("description", ""), str, f"model_parameters.data[{i}].description") or ""
        data_lines.append(f"{label}: {desc}" if desc else label)
    evals: list[EvalRow] = []
    metric_lines = []
    for i, metric in enumerate(_expect(quant.get("performance_metrics") or [], list,
                                       "quantitative_analysis.performance_metrics")):
        where = f"quantitative_analysis.performance_metrics[{i}]"
        _expect_item(metric, where)
        mtype = _expect(metric.get("type"), str, f"{where}.type")
        if not mtype:
            raise DomainError(f"{where}.type is required", field=f"{where}.type")
        raw = metric.get("value")
        _expect(raw, (str, int, float), f"{where}.value")
        slice_ = str(metric.get("slice") or "")
        metric_lines.append(_metric_label(metric))
        evals.append(EvalRow(metric=metric_name(mtype, f"{where}.type", f"{where}.type"),
                             value=metric_value(raw, f"{where}.value", f"{where}.value"),
                             dataset=fit_dataset(slice_), run_id=fit_run_id(f"{name or 'mct'}#{i}")))
    ethical = []
    for i, item in enumerate(_expect(cons.get("ethical_considerations") or [], list,
                                     "considerations.ethical_considerations")):
        where = f"considerations.ethical_considerations[{i}]"
        _expect_item(item, where)
        line = str(_expect(item.get("name", ""), str, f"{where}.name") or "")
        mitigation = _expect(item.get("mitigation_strategy", ""), str, f"{where}.mitigation_strategy")
        ethical.append(f"{line} — mitigation: {mitigation}" if mitigation else line)
    metrics_text = "\n\n".join(p for p in (_bullets(metric_lines), carried.get("metrics", "")) if p)
    sections = {
        "model_details": "\n\n".join(p for p in (normalize_newlines(overview).strip(), doc_rest) if p),
        "intended_use": _bullets(_descriptions(cons.get("use_cases"), "considerations.use_cases")),
        "out_of_scope_use": carried.get("out_of_scope_use", ""),
        "training_data": _bullets(data_lines),
        "evaluation_data": carried.get("evaluation_data", ""),
        "metrics": metrics_text,
        "limitations": _bullets(_descriptions(cons.get("limitations"), "considerations.limitations")),
        "ethical_considerations": _bullets(ethical),
        "caveats": _bullets(_descriptions(cons.get("tradeoffs"), "considerations.tradeoffs")),
        "body_markdown": carried.get("body_markdown", ""),
    }
    sections = {key: normalize_newlines(value) for key, value in sections.items()}
    version = details.get("version")
    observed_at, date_note = None, ""
    if isinstance(version, dict) and version.get("date") not in (None, ""):
        observed_at = parse_card_date(version["date"])
        date_note = (f"results dated by model_details.version.date: {observed_at.date().isoformat()}" if observed_at
                     else f"model_details.version.date: {str(version['date'])[:60]!r} is not a date; "
                          "results are dated at import")
    report = _mct_report(doc)
    if date_note:
        report["date"] = date_note
    document = {"json": doc, "text": text, "bom": bom, "imported": dict(sections), "filename": filename,
                "overview": normalize_newlines(overview).strip(), "report": report}
    return ParsedCard(sections=sections, source_format="model_card_toolkit", source_document=document,
                      evals=evals, name=name, observed_at=observed_at, report=report)


def _mct_report(doc: dict[str, Any]) -> dict[str, Any]:
    recognised: list[dict[str, str]] = []
    unrecognised: list[dict[str, str]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            for inner, content in value.items():
                if content in (None, "", [], {}):
                    continue
                section = MCT_FIELDS.get((key, inner))
                if section:
                    recognised.append({"heading": f"{key}.{inner}", "how": "field", "section": section})
                elif (key, inner) != ("model_details", "name"):
                    unrecognised.append({"heading": f"{key}.{inner}", "how": "field"})
        elif key != "schema_version":
            unrecognised.append({"heading": key, "how": "field"})
    return {"recognised": recognised, "unrecognised": unrecognised}


def _merge(items: list[Any], labels: list[str], label_of: Any, make: Any, update: Any) -> list[Any]:
    """The edited list: items whose label is unchanged stay as they are (every field they carry,
    graphics included); an edited label updates its item in place; new labels make new items."""
    old = [label_of(item) for item in items]
    out: list[Any] = []
    matcher = difflib.SequenceMatcher(None, old, labels, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(items[i1:i2])
        elif op == "replace":
            paired = min(i2 - i1, j2 - j1)
            out.extend(update(items[i1 + n], labels[j1 + n]) for n in range(paired))
            out.extend(make(label) for label in labels[j1 + paired:j2])
        elif op == "insert":
            out.extend(make(label) for label in labels[j1:j2])
    return out


def _set_description(item: dict[str, Any], label: str) -> dict[str, Any]:
    return {**item, "description": label}


def _data_label(item: dict[str, Any], index: int) -> str:
    label = item.get("name") or f"dataset {index + 1}"
    return f"{label}: {item['description']}" if item.get("description") else str(label)


def _data_item(item: dict[str, Any], label: str) -> dict[str, Any]:
    name, _, description = label.partition(": ")
    updated = {**item, "name": name}
    if description:
        updated["description"] = description
    else:
        updated.pop("description", None)
    return updated


def _risk_item(item: dict[str, Any], label: str) -> dict[str, Any]:
    name, _, mitigation = label.partition(" — mitigation: ")
    updated = {**item, "name": name}
    if mitigation:
        updated["mitigation_strategy"] = mitigation
    else:
        updated.pop("mitigation_strategy", None)
    return updated


def _risk_label(item: dict[str, Any]) -> str:
    return f"{item.get('name', '')} — mitigation: {item['mitigation_strategy']}" if item.get("mitigation_strategy") \
        else str(item.get("name", ""))


def _metrics_from(text: str, items: list[Any]) -> tuple[list[Any], str]:
    """The metrics section → performance_metrics (lines "type = value (slice)", matched to the
    existing entries so thresholds and confidence intervals stay) and the text that is not a metric
    line (it travels in documentation)."""
    lines: list[str] = []
    prose: list[str] = []
    for paragraph in re.split(r"\n\s*\n", normalize_newlines(text).strip()):
        entries = _unbullet(paragraph)
        if entries and all(_METRIC_LINE.match(e) for e in entries):
            lines.extend(entries)
        elif paragraph.strip():
            prose.append(paragraph.strip())

    def make(label: str) -> dict[str, Any]:
        match = _METRIC_LINE.match(label)
        assert match is not None
        metric = {"type": match["type"].strip(), "value": match["value"]}
        return {**metric, "slice": match["slice"]} if match["slice"] else metric

    def update(item: dict[str, Any], label: str) -> dict[str, Any]:
        fresh = make(label)
        updated = {**item, **fresh}
        if "slice" not in fresh:
            updated.pop("slice", None)
        return updated

    merged = _merge(items, lines, _metric_label, make, update)
    return merged, "\n\n".join(prose)


def _overview_split(new: str, overview: str, rest: str) -> tuple[str, str]:
    """An edited model details text → (overview, the rest for documentation): whichever of the two
    parts is unchanged stays as it was; else the first paragraph is the overview."""
    new = normalize_newlines(new).strip()
    if not rest:
        return new, ""
    if overview and new.startswith(overview + "\n\n"):
        return overview, new[len(overview):].strip()
    if new.endswith("\n\n" + rest):
        return new[: -len(rest)].strip(), rest
    first, _, remainder = new.partition("\n\n")
    return first.strip(), remainder.strip()


def _documentation(rest: str, sections: dict[str, str], metrics_prose: str) -> str:
    parts = [rest] if rest else []
    for key, title in MCT_DOCUMENTATION_SECTIONS.items():
        text = metrics_prose if key == "metrics" else normalize_newlines(sections.get(key, "")).strip()
        if text:
            parts.append(f"## {title}\n\n{text}")
    return "\n\n".join(parts)


def export_model_card_toolkit(*, sections: dict[str, str], source_document: dict[str, Any], name: str,
                              version: int, owners: list[dict[str, str]], evals: list[EvalRow]) -> str:
    """The original JSON text with the edited sections written into their own fields (nothing else
    touched); a native card gets a fresh v0.0.2 document. Only keys of the format."""
    original = source_document.get("json") if source_document else None
    if original is None:
        return dump_json(_native_model_card_toolkit(sections=sections, name=name, version=version, owners=owners,
                                                    evals=evals))
    imported = source_document.get("imported", {})
    text = source_document.get("text")
    bom = "\ufeff" if source_document.get("bom") else ""
    changed = {key for key in (*SECTIONS, "body_markdown") if not same_text(sections.get(key, ""), imported.get(key, ""))}
    if not changed:
        return bom + text if text is not None else dump_json(original)
    doc = copy.deepcopy(original)

    def put(outer: str, inner: str, value: Any) -> None:
        parent = doc.get(outer)
        if not isinstance(parent, dict):
            parent = doc[outer] = {}
        parent[inner] = value

    details = original.get("model_details") or {}
    cons = original.get("considerations") or {}
    old_overview = source_document.get("overview", normalize_newlines(details.get("overview") or "").strip())
    old_rest, old_carried = _split_documentation(details.get("documentation") or "")
    overview, rest = old_overview, old_rest
    if "model_details" in changed:
        overview, rest = _overview_split(sections.get("model_details", ""), old_overview, old_rest)
        if overview != old_overview:
            put("model_details", "overview", overview)
    metrics_prose = old_carried.get("metrics", "")
    if "metrics" in changed:
        quant = original.get("quantitative_analysis") or {}
        merged, metrics_prose = _metrics_from(sections.get("metrics", ""), list(quant.get("performance_metrics") or []))
        if merged != (quant.get("performance_metrics") or []):
            put("quantitative_analysis", "performance_metrics", merged)
    documentation = _documentation(rest, {**old_carried, **{k: sections.get(k, "") for k in changed}}, metrics_prose)
    if documentation != _documentation(old_rest, old_carried, old_carried.get("metrics", "")):
        put("model_details", "documentation", documentation)
    for key, field_name in (("intended_use", "use_cases"), ("limitations", "limitations"), ("caveats", "tradeoffs")):
        if key in changed:
            put("considerations", field_name, _merge(
                list(cons.get(field_name) or []), _unbullet(sections.get(key, "")),
                lambda item: str(item.get("description", "")), lambda label: {"description": label},
                _set_description))
    if "ethical_considerations" in changed:
        put("considerations", "ethical_considerations", _merge(
            list(cons.get("ethical_considerations") or []), _unbullet(sections.get("ethical_considerations", "")),
            _risk_label, lambda label: _risk_item({}, label), _risk_item))
    if "training_data" in changed:
        items = list((original.get("model_parameters") or {}).get("data") or [])
        labels = {id(item): _data_label(item, i) for i, item in enumerate(items)}
        put("model_parameters", "data", _merge(items, _unbullet(sections.get("training_data", "")),
                                               lambda item: labels[id(item)], lambda label: _data_item({}, label),
                                               _data_item))
    if doc == original:
        return bom + text if text is not None else dump_json(original)
    if text is not None:
        spliced = json_splice.splice(text, original, doc)
        if spliced is not None and json.loads(spliced) == doc:
            return bom + spliced
    return bom + dump_json(doc, indent=json_splice.indent_unit(text) if text else "  ")


def _native_model_card_toolkit(*, sections: dict[str, str], name: str, version: int, owners: list[dict[str, str]],
                               evals: list[EvalRow]) -> dict[str, Any]:
    overview, _, rest = normalize_newlines(sections.get("model_details", "")).strip().partition("\n\n")
    metrics_prose = sections.get("metrics", "")
    details: dict[str, Any] = {"name": name, "owners": owners, "version": {"name": f"v{version}"}}
    if overview:
        details["overview"] = overview
    documentation = _documentation(rest, sections, normalize_newlines(metrics_prose).strip())
    if documentation:
        details["documentation"] = documentation
    doc: dict[str, Any] = {"schema_version": "0.0.2", "model_details": details}
    data = [_data_item({}, label) for label in _unbullet(sections.get("training_data", ""))]
    if data:
        doc["model_parameters"] = {"data": data}
    if evals:
        doc["quantitative_analysis"] = {"performance_metrics": [
            {"type": e.metric, "value": str(e.value), **({"slice": e.dataset} if e.dataset else {})} for e in evals]}
    cons: dict[str, Any] = {}
    for key, field_name in (("intended_use", "use_cases"), ("limitations", "limitations"), ("caveats", "tradeoffs")):
        items = [{"description": line} for line in _unbullet(sections.get(key, ""))]
        if items:
            cons[field_name] = items
    risks = [_risk_item({}, line) for line in _unbullet(sections.get("ethical_considerations", ""))]
    if risks:
        cons["ethical_considerations"] = risks
    if cons:
        doc["considerations"] = cons
    return doc


def dump_json(doc: dict[str, Any], indent: str = "  ") -> str:
    return json.dumps(doc, indent=indent, ensure_ascii=False) + "\n"
