"""Hugging Face model cards and Model Card Toolkit JSON: parse into card sections, export back.

Pure functions (no database). A parsed document keeps everything the app does not model: the
original front matter (as parsed and as text), the Markdown body split into heading blocks, or the
original JSON. Export starts from that original and rewrites only the sections that were edited
since the import, so an unedited card goes out exactly as it came in.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from clearance.errors import DomainError

# The card's structured sections, in reading order (body_markdown holds everything else).
SECTIONS = (
    "model_details",
    "intended_use",
    "out_of_scope_use",
    "training_data",
    "evaluation_data",
    "metrics",
    "limitations",
    "ethical_considerations",
    "caveats",
)
SECTION_TITLES = {
    "model_details": "Model Details",
    "intended_use": "Intended Use",
    "out_of_scope_use": "Out-of-Scope Use",
    "training_data": "Training Data",
    "evaluation_data": "Evaluation Data",
    "metrics": "Metrics",
    "limitations": "Bias, Risks, and Limitations",
    "ethical_considerations": "Ethical Considerations",
    "caveats": "Recommendations",
}

# Hugging Face headings (lower-cased, "[optional]" removed) → our section. Headings not listed here
# stay in body_markdown and are exported verbatim.
HF_HEADINGS = {
    "model details": "model_details",
    "model description": "model_details",
    "uses": "intended_use",
    "direct use": "intended_use",
    "intended uses & limitations": "intended_use",
    "intended use": "intended_use",
    "out-of-scope use": "out_of_scope_use",
    "training data": "training_data",
    "training and evaluation data": "training_data",
    "testing data": "evaluation_data",
    "evaluation data": "evaluation_data",
    "metrics": "metrics",
    "bias, risks, and limitations": "limitations",
    "limitations": "limitations",
    "recommendations": "caveats",
    "caveats and recommendations": "caveats",
    "ethical considerations": "ethical_considerations",
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class EvalRow:
    """One metric value a document reports; becomes evaluation evidence on import."""

    metric: str
    value: float
    dataset: str
    run_id: str


@dataclass
class ParsedCard:
    sections: dict[str, str]
    source_format: str
    source_document: dict[str, Any]
    evals: list[EvalRow] = field(default_factory=list)
    name: str = ""


# --- Hugging Face ---------------------------------------------------------------------------------


def _split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter text, body, line number of the body's first line)."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise DomainError("line 1: a Hugging Face model card starts with YAML front matter between '---' lines",
                          field="file")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise DomainError("line 1: the front matter opened with '---' is never closed", field="file")


def _blocks(body: str) -> list[dict[str, Any]]:
    """Split Markdown into blocks, each a heading line (or none, for the preamble) and its text.
    Headings inside fenced code are not headings."""
    blocks: list[dict[str, Any]] = [{"heading": "", "level": 0, "title": "", "text": ""}]
    fenced = False
    for line in body.splitlines(keepends=True):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line.rstrip("\n"))
        if match:
            title = match.group(2).replace("[optional]", "").strip().lower()
            blocks.append({"heading": line, "level": len(match.group(1)), "title": title, "text": ""})
        else:
            blocks[-1]["text"] += line
    return blocks


def _strip_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S).strip()


def parse_hugging_face(text: str, *, filename: str = "README.md") -> ParsedCard:
    """Parse a model card README; a problem names the line and nothing is returned."""
    front_text, body, _ = _split_front_matter(text)
    try:
        meta = yaml.safe_load(front_text) if front_text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 2}" if mark is not None else "front matter"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DomainError(f"{where}: the YAML front matter does not parse ({problem})", field="file") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise DomainError("line 2: the front matter must be a YAML mapping of keys", field="file")
    evals, name = _hf_model_index(meta)
    blocks = _blocks(body)
    sections = dict.fromkeys(SECTIONS, "")
    owner_of: list[str | None] = []
    for block in blocks:
        target = HF_HEADINGS.get(block["title"])
        owner_of.append(target)
        if target is None:
            continue
        content = _strip_comments(block["text"])
        if content and content.lower().strip("[]. ") not in ("more information needed",):
            sections[target] = f"{sections[target]}\n\n{content}".strip()
    extra = "".join(
        b["heading"] + b["text"] for b, target in zip(blocks, owner_of, strict=True) if target is None
    ).strip()
    sections["body_markdown"] = extra
    imported = dict(sections)
    document = {
        "front_matter": meta,
        "front_matter_text": front_text,
        "body": body,
        "blocks": blocks,
        "owner_of": owner_of,
        "imported": imported,
        "filename": filename,
    }
    return ParsedCard(sections=sections, source_format="huggingface", source_document=document, evals=evals,
                      name=name)


def _hf_model_index(meta: dict[str, Any]) -> tuple[list[EvalRow], str]:
    index = meta.get("model-index")
    if index is None:
        return [], str(meta.get("model_name", "") or "")
    if not isinstance(index, list):
        raise DomainError("model-index: must be a list of models", field="model-index")
    rows: list[EvalRow] = []
    name = ""
    for m, model in enumerate(index):
        if not isinstance(model, dict):
            raise DomainError(f"model-index[{m}]: must be a mapping with name and results", field="model-index")
        name = name or str(model.get("name", ""))
        for r, result in enumerate(model.get("results") or []):
            where = f"model-index[{m}].results[{r}]"
            if not isinstance(result, dict):
                raise DomainError(f"{where}: must be a mapping", field="model-index")
            task, dataset = result.get("task"), result.get("dataset")
            if not isinstance(task, dict) or not task.get("type"):
                raise DomainError(f"{where}.task.type is required", field="model-index")
            if not isinstance(dataset, dict) or not dataset.get("type") or not dataset.get("name"):
                raise DomainError(f"{where}.dataset.type and .name are required", field="model-index")
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                raise DomainError(f"{where}.metrics must list at least one metric", field="model-index")
            label = " / ".join(str(p) for p in (dataset["name"], dataset.get("config"), dataset.get("split")) if p)
            for k, metric in enumerate(metrics):
                mwhere = f"{where}.metrics[{k}]"
                if not isinstance(metric, dict) or not metric.get("type"):
                    raise DomainError(f"{mwhere}.type is required", field="model-index")
                # Whatever the YAML holds; float() turns away what is not a number.
                raw: Any = metric.get("value")
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    raise DomainError(f"{mwhere}.value must be a number, got {metric.get('value')!r}",
                                      field="model-index") from None
                rows.append(EvalRow(metric=str(metric["type"]), value=value, dataset=label[:200],
                                    run_id=f"{model.get('name', m)}#{r}.{k}"))
    return rows, name


def export_hugging_face(*, sections: dict[str, str], source_document: dict[str, Any], name: str,
                        evals: list[EvalRow]) -> str:
    """A README.md: the original front matter and body where untouched, edited sections rewritten."""
    if source_document.get("front_matter_text") is not None and "blocks" in source_document:
        front = source_document["front_matter_text"]
        body = _hf_body_from_original(sections, source_document)
    else:
        meta: dict[str, Any] = {"tags": ["clearance"]}
        if evals:
            meta["model-index"] = [{"name": name, "results": [
                {"task": {"type": "evaluation"}, "dataset": {"type": e.dataset or "internal", "name": e.dataset or "internal"},
                 "metrics": [{"type": e.metric, "value": e.value}]} for e in evals]}]
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
        parts = [f"# {name}\n"]
        for key in SECTIONS:
            if sections.get(key, "").strip():
                parts.append(f"## {SECTION_TITLES[key]}\n\n{sections[key].strip()}\n")
        if sections.get("body_markdown", "").strip():
            parts.append(sections["body_markdown"].strip() + "\n")
        body = "\n" + "\n".join(parts)
    if not front.endswith("\n") and front:
        front += "\n"
    return f"---\n{front}---\n{body}"


def _hf_body_from_original(sections: dict[str, str], doc: dict[str, Any]) -> str:
    imported = doc["imported"]
    changed = {key for key in (*SECTIONS, "body_markdown") if sections.get(key, "") != imported.get(key, "")}
    if not changed:
        body: str = doc["body"]
        return body
    out: list[str] = []
    written: set[str] = set()
    for block, target in zip(doc["blocks"], doc["owner_of"], strict=True):
        if target is None:
            if "body_markdown" not in changed:
                out.append(block["heading"] + block["text"])
            continue
        if target not in changed:
            out.append(block["heading"] + block["text"])
        elif target not in written:
            out.append(f"{block['heading']}\n{sections[target].strip()}\n\n")
            written.add(target)
        else:
            out.append(block["heading"])
    present = set(t for t in doc["owner_of"] if t)
    for key in SECTIONS:
        if key in changed and key not in present and sections.get(key, "").strip():
            out.append(f"\n## {SECTION_TITLES[key]}\n\n{sections[key].strip()}\n")
    if "body_markdown" in changed and sections.get("body_markdown", "").strip():
        out.append("\n" + sections["body_markdown"].strip() + "\n")
    return "".join(out)


# --- Model Card Toolkit -----------------------------------------------------------------------------


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DomainError(f"{where}: expected {names}, got {type(value).__name__}", field=where)
    return value


def _descriptions(items: Any, where: str) -> list[str]:
    _expect(items, list, where)
    out = []
    for i, item in enumerate(items or []):
        _expect(item, dict, f"{where}[{i}]")
        out.append(str(_expect(item.get("description", ""), str, f"{where}[{i}].description")))
    return out


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines if line)


def _unbullet(text: str) -> list[str]:
    items: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("- ", "* ")):
            items.append(stripped[2:].strip())
        elif stripped and items:
            items[-1] = f"{items[-1]} {stripped}"
        elif stripped:
            items.append(stripped)
    return items


def parse_model_card_toolkit(text: str, *, filename: str = "model_card.json") -> ParsedCard:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DomainError(f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})", field="file") from exc
    _expect(doc, dict, "(document)")
    details = _expect(doc.get("model_details") or {}, dict, "model_details")
    params = _expect(doc.get("model_parameters") or {}, dict, "model_parameters")
    quant = _expect(doc.get("quantitative_analysis") or {}, dict, "quantitative_analysis")
    cons = _expect(doc.get("considerations") or {}, dict, "considerations")
    name = str(_expect(details.get("name", ""), str, "model_details.name") or "")
    overview = _expect(details.get("overview", ""), str, "model_details.overview") or ""
    documentation = _expect(details.get("documentation", ""), str, "model_details.documentation") or ""
    data_lines = []
    for i, item in enumerate(_expect(params.get("data") or [], list, "model_parameters.data")):
        _expect(item, dict, f"model_parameters.data[{i}]")
        label = _expect(item.get("name", ""), str, f"model_parameters.data[{i}].name") or f"dataset {i + 1}"
        desc = _expect(item.get("description", ""), str, f"model_parameters.data[{i}].description") or ""
        data_lines.append(f"{label}: {desc}" if desc else label)
    evals: list[EvalRow] = []
    metric_lines = []
    for i, metric in enumerate(_expect(quant.get("performance_metrics") or [], list,
                                       "quantitative_analysis.performance_metrics")):
        where = f"quantitative_analysis.performance_metrics[{i}]"
        _expect(metric, dict, where)
        mtype = _expect(metric.get("type"), str, f"{where}.type")
        if not mtype:
            raise DomainError(f"{where}.type is required", field=f"{where}.type")
        raw = metric.get("value")
        _expect(raw, (str, int, float), f"{where}.value")
        slice_ = str(metric.get("slice") or "")
        metric_lines.append(f"{mtype} = {raw}" + (f" ({slice_})" if slice_ else ""))
        try:
            evals.append(EvalRow(metric=mtype, value=float(raw), dataset=slice_[:200], run_id=f"{name or 'mct'}#{i}"))
        except (TypeError, ValueError):
            raise DomainError(f"{where}.value must be a number, got {raw!r}", field=f"{where}.value") from None
    ethical = []
    for i, item in enumerate(_expect(cons.get("ethical_considerations") or [], list,
                                     "considerations.ethical_considerations")):
        where = f"considerations.ethical_considerations[{i}]"
        _expect(item, dict, where)
        line = str(_expect(item.get("name", ""), str, f"{where}.name") or "")
        mitigation = _expect(item.get("mitigation_strategy", ""), str, f"{where}.mitigation_strategy")
        ethical.append(f"{line} — mitigation: {mitigation}" if mitigation else line)
    sections = {
        "model_details": "\n\n".join(p for p in (overview, documentation) if p),
        "intended_use": _bullets(_descriptions(cons.get("use_cases"), "considerations.use_cases")),
        "out_of_scope_use": "",
        "training_data": _bullets(data_lines),
        "evaluation_data": "",
        "metrics": _bullets(metric_lines),
        "limitations": _bullets(_descriptions(cons.get("limitations"), "considerations.limitations")),
        "ethical_considerations": _bullets(ethical),
        "caveats": _bullets(_descriptions(cons.get("tradeoffs"), "considerations.tradeoffs")),
        "body_markdown": "",
    }
    document = {"json": doc, "imported": dict(sections), "filename": filename}
    return ParsedCard(sections=sections, source_format="model_card_toolkit", source_document=document,
                      evals=evals, name=name)


def export_model_card_toolkit(*, sections: dict[str, str], source_document: dict[str, Any], name: str,
                              version: int, owners: list[dict[str, str]], evals: list[EvalRow]) -> dict[str, Any]:
    """The original JSON with edited sections rewritten; a native card gets a fresh v0.0.2 document."""
    original = source_document.get("json") if source_document else None
    imported = source_document.get("imported", {}) if source_document else {}
    if original is not None:
        doc: dict[str, Any] = copy.deepcopy(original)
        changed = {key for key in SECTIONS if sections.get(key, "") != imported.get(key, "")}
    else:
        doc = {"schema_version": "0.0.2", "model_details": {"name": name, "owners": owners,
                                                           "version": {"name": f"v{version}"}}}
        changed = {key for key in SECTIONS if sections.get(key, "").strip()}
        if evals:
            doc["quantitative_analysis"] = {"performance_metrics": [
                {"type": e.metric, "value": str(e.value), **({"slice": e.dataset} if e.dataset else {})}
                for e in evals]}
    details = doc.setdefault("model_details", {})
    cons = doc.get("considerations") or {}
    if "model_details" in changed:
        details["overview"] = sections["model_details"]
        details.pop("documentation", None)
    for key, target in (("intended_use", "use_cases"), ("limitations", "limitations"), ("caveats", "tradeoffs")):
        if key in changed:
            cons[target] = [{"description": line} for line in _unbullet(sections[key])]
    if "ethical_considerations" in changed:
        items = []
        for line in _unbullet(sections["ethical_considerations"]):
            label, _, mitigation = line.partition(" — mitigation: ")
            items.append({"name": label, **({"mitigation_strategy": mitigation} if mitigation else {})})
        cons["ethical_considerations"] = items
    if "training_data" in changed:
        data = []
        for line in _unbullet(sections["training_data"]):
            label, _, desc = line.partition(": ")
            data.append({"name": label, **({"description": desc} if desc else {})})
        doc.setdefault("model_parameters", {})["data"] = data
    if cons:
        doc["considerations"] = cons
    # Sections MCT v0.0.2 has no place for travel in an extension key rather than being dropped.
    extras = {key: sections[key] for key in ("out_of_scope_use", "evaluation_data", "metrics", "body_markdown")
              if key in changed and sections.get(key, "").strip()}
    if "metrics" in extras and original is None and evals:
        extras.pop("metrics")
    if extras:
        doc["clearance_sections"] = extras
    return doc


def dump_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
