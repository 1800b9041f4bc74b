"""Hugging Face model cards: a README.md with YAML front matter (``model-index`` results become
evaluation evidence) and a Markdown body whose headings, or bold lines used as headings, name the
sections. The body is kept as blocks, so an export rewrites only the edited sections in place."""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from typing import Any

import yaml

from catalog.lib.card_formats.common import (
    DATASET_TYPE_MAX,
    SECTION_TITLES,
    SECTIONS,
    SOURCE_URL_MAX,
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
from clearance.errors import DomainError
from clearance.untrusted import UntrustedInputError, load_yaml

# Where a section the card did not have goes: the order of the Hugging Face template.
HF_ORDER = ("model_details", "intended_use", "out_of_scope_use", "limitations", "caveats", "training_data",
            "evaluation_data", "metrics", "ethical_considerations")

# Hugging Face headings (normalised: lower case, emphasis, "[optional]" and a trailing colon removed)
# → our section. Headings not listed here stay in body_markdown and are exported verbatim.
HF_HEADINGS = {
    "model details": "model_details",
    "model description": "model_details",
    "uses": "intended_use",
    "direct use": "intended_use",
    "intended uses & limitations": "intended_use",
    "intended uses and limitations": "intended_use",
    "intended use": "intended_use",
    "intended uses": "intended_use",
    "out-of-scope use": "out_of_scope_use",
    "out-of-scope uses": "out_of_scope_use",
    "out of scope use": "out_of_scope_use",
    "misuse and out-of-scope use": "out_of_scope_use",
    "misuse, malicious use, and out-of-scope use": "out_of_scope_use",
    "training data": "training_data",
    "training and evaluation data": "training_data",
    "testing data": "evaluation_data",
    "evaluation data": "evaluation_data",
    "metrics": "metrics",
    "bias, risks, and limitations": "limitations",
    "bias, risks and limitations": "limitations",
    "limitations": "limitations",
    "limitations and bias": "limitations",
    "limitations and biases": "limitations",
    "risks and limitations": "limitations",
    "recommendations": "caveats",
    "caveats and recommendations": "caveats",
    "ethical considerations": "ethical_considerations",
}

# An ATX heading (up to three spaces of indent, then 1-6 '#', a space and the title).
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
# A line that is bold and nothing else ("**Training Data**", "__Limitations:__", "**Uses**:").
_BOLD = re.compile(r"^ {0,3}(\*\*|__)(?P<title>[^\s*_](?:(?!\*\*|__).)*?)\1[ \t]*:?[ \t]*$")
BOLD_LEVEL = 7  # below every Markdown heading
MAX_BOLD_TITLE = 60
PLACEHOLDERS = ("more information needed",)
# Front-matter keys a Hugging Face card may date itself with (its evaluation results are as of then).
HF_DATE_KEYS = ("last_updated", "date")


def _split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter text, body, line number of the body's first line)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise DomainError("line 1: a Hugging Face model card starts with YAML front matter between '---' lines",
                          field="file")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise DomainError("line 1: the front matter opened with '---' is never closed", field="file")


_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _title_key(raw: str) -> str:
    """A heading's title as HF_HEADINGS spells it: no emphasis, links or HTML, no "[optional]", lower case."""
    title = _LINK.sub(r"\1", re.sub(r"<[^>]*>", "", raw))
    title = re.sub(r"\[optional\]", "", title, flags=re.I)
    title = title.strip().strip("*_").strip().rstrip(":").strip().strip("*_").strip()
    return re.sub(r"\s+", " ", title).lower()


def _label(raw: str) -> str:
    """A heading's title as shown to people."""
    return re.sub(r"\s+", " ", _LINK.sub(r"\1", re.sub(r"<[^>]*>", "", raw)).strip().strip("*_").strip().rstrip(":")
                  .strip("*_ "))


def markdown_blocks(body: str, *, bold_headings: bool = True) -> list[dict[str, Any]]:
    """Split Markdown into blocks, each a heading line (or none, for the preamble) and its text, with
    the section each block belongs to ("owner", None for the rest).

    Headings of any level count. So does a line that is bold and nothing else, standing after a blank
    line, when it names a section or when no recognised section is open: cards written without
    Markdown headings use such lines for them, while inside a recognised section a bold line is
    emphasis and stays part of it. Headings inside fenced code are not headings."""
    blocks: list[dict[str, Any]] = [{"heading": "", "level": 0, "kind": "", "title": "", "label": "", "text": "",
                                     "owner": None}]
    fenced = False
    after_break = True  # the previous line was blank, a heading, or there was none
    open_owner: str | None = None  # the section a Markdown heading opened, if any
    for line in body.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if stripped.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(stripped)
        bold = None if (fenced or heading or not after_break or not bold_headings) else _BOLD.match(stripped)
        if bold is not None:
            title = bold.group("title").strip()
            key = _title_key(title)
            if (len(title) > MAX_BOLD_TITLE or title[-1:] in ".!?" or not re.search(r"[A-Za-z]", title)
                    or (open_owner is not None and key not in HF_HEADINGS)):
                bold = None
        if heading is not None:
            raw = heading.group(2) or ""
            key = _title_key(raw)
            open_owner = HF_HEADINGS.get(key)
            blocks.append({"heading": line, "level": len(heading.group(1)), "kind": "atx", "title": key,
                           "label": _label(raw), "text": "", "owner": open_owner})
            after_break = True
        elif bold is not None:
            raw = bold.group("title")
            key = _title_key(raw)
            blocks.append({"heading": line, "level": BOLD_LEVEL, "kind": "bold", "title": key, "label": _label(raw),
                           "text": "", "owner": HF_HEADINGS.get(key)})
            after_break = True
        else:
            blocks[-1]["text"] += line
            after_break = not stripped.strip()
    return blocks


def _strip_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S).strip()


def _block_content(block: dict[str, Any]) -> str:
    """What a recognised block contributes to its section: its text without comments or the
    template's "[More Information Needed]"."""
    content = normalize_newlines(_strip_comments(block["text"]))
    if content.lower().strip("[]. ") in PLACEHOLDERS:
        return ""
    return content


def parse_hugging_face(text: str, *, filename: str = "README.md") -> ParsedCard:
    """Parse a model card README; a problem names the line and nothing is returned.

    The front matter is loaded safely and bounded (``clearance.untrusted.load_yaml``): dates come
    back as ISO strings, ``!!binary``/``!!set`` and non-finite numbers are refused, aliases cannot
    multiply the document."""
    refuse_nul(text)
    bom = text.startswith("\ufeff")
    text = text.removeprefix("\ufeff")
    front_text, body, _ = _split_front_matter(text)
    try:
        meta = load_yaml(front_text) if front_text.strip() else {}
    except UntrustedInputError as exc:
        raise DomainError(f"front matter: {exc.message}", field="file") from exc
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
    observed_at, date_note = _hf_card_date(meta)
    blocks = markdown_blocks(body)
    sections = dict.fromkeys(SECTIONS, "")
    for block in blocks:
        target = block["owner"]
        content = _block_content(block) if target else ""
        if content:
            sections[target] = f"{sections[target]}\n\n{content}".strip()
    extra = "".join(b["heading"] + b["text"] for b in blocks if b["owner"] is None)
    sections["body_markdown"] = normalize_newlines(extra).strip()
    report = _hf_report(blocks)
    if date_note:
        report["date"] = date_note
    document = {
        # The front matter is kept as text (the export writes it back as it was), not as parsed YAML,
        # which may hold what JSON cannot (dates, sets, binary).
        "front_matter_text": front_text,
        "body": body,
        "blocks": [{k: b[k] for k in ("heading", "level", "kind", "title", "label", "text")} for b in blocks],
        "owner_of": [b["owner"] for b in blocks],
        "imported": dict(sections),
        "filename": filename,
        "newline": "\r\n" if "\r\n" in text else "\n",
        "bom": bom,
        "report": report,
    }
    return ParsedCard(sections=sections, source_format="huggingface", source_document=document, evals=evals,
                      name=name, observed_at=observed_at, report=report)


def _hf_report(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    recognised: list[dict[str, str]] = []
    unrecognised: list[dict[str, str]] = []
    for block in blocks[1:]:
        how = f"heading level {block['level']}" if block["kind"] == "atx" else "bold line"
        if block["owner"]:
            recognised.append({"heading": block["label"], "how": how, "section": block["owner"]})
        elif block["label"]:
            unrecognised.append({"heading": block["label"], "how": how})
    return {"recognised": recognised, "unrecognised": unrecognised}


def _hf_card_date(meta: dict[str, Any]) -> tuple[datetime | None, str]:
    for key in HF_DATE_KEYS:
        if key in meta and meta[key] not in (None, ""):
            moment = parse_card_date(meta[key])
            if moment is None:
                return None, f"{key}: {str(meta[key])[:60]!r} is not a date; results are dated at import"
            return moment, f"results dated by the card's {key}: {moment.date().isoformat()}"
    return None, ""


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
            shots = _few_shot(dataset, where)
            source = result.get("source")
            url = str(source.get("url") or "") if isinstance(source, dict) else ""
            # A link cut short points somewhere else: one past its column is left out, not cut.
            url = url if len(url) <= SOURCE_URL_MAX else ""
            for k, metric in enumerate(metrics):
                mwhere = f"{where}.metrics[{k}]"
                if not isinstance(metric, dict) or not metric.get("type"):
                    raise DomainError(f"{mwhere}.type is required", field="model-index")
                value = metric_value(metric.get("value"), f"{mwhere}.value", "model-index")
                rows.append(EvalRow(metric=metric_name(metric["type"], f"{mwhere}.type", "model-index"), value=value,
                                    dataset=fit_dataset(label), run_id=fit_run_id(f"{model.get('name', m)}#{r}.{k}"),
                                    dataset_type=str(dataset["type"])[:DATASET_TYPE_MAX],
                                    num_few_shot=shots, source_url=url))
    return rows, name


def _few_shot(dataset: dict[str, Any], where: str) -> int | None:
    """dataset.args.num_few_shot: how many examples the prompt showed (the Open LLM Leaderboard's
    25-shot ARC differs from a 0-shot ARC)."""
    args = dataset.get("args")
    if not isinstance(args, dict) or args.get("num_few_shot") is None:
        return None
    shots = args["num_few_shot"]
    if isinstance(shots, bool) or not isinstance(shots, int) or not 0 <= shots <= 10_000:
        raise DomainError(f"{where}.dataset.args.num_few_shot must be a whole number of examples, got {shots!r}",
                          field="model-index")
    return shots


def export_hugging_face(*, sections: dict[str, str], source_document: dict[str, Any], name: str,
                        evals: list[EvalRow]) -> str:
    """A README.md: the original front matter and body where untouched, edited sections rewritten."""
    if source_document.get("front_matter_text") is not None and "blocks" in source_document:
        front = source_document["front_matter_text"]
        body = _hf_body_from_original(sections, source_document)
        newline = source_document.get("newline", "\n")
        bom = "\ufeff" if source_document.get("bom") else ""
    else:
        meta: dict[str, Any] = {"tags": ["clearance"]}
        if evals:
            meta["model-index"] = [{"name": name, "results": [_hf_result(e) for e in evals]}]
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
        parts = [f"# {name}\n"]
        for key in SECTIONS:
            if sections.get(key, "").strip():
                parts.append(f"## {SECTION_TITLES[key]}\n\n{normalize_newlines(sections[key]).strip()}\n")
        if sections.get("body_markdown", "").strip():
            parts.append(normalize_newlines(sections["body_markdown"]).strip() + "\n")
        body = "\n" + "\n".join(parts)
        newline, bom = "\n", ""
    if not front.endswith(("\n", "\r")) and front:
        front += newline
    return f"{bom}---{newline}{front}---{newline}{body}"


def _hf_result(e: EvalRow) -> dict[str, Any]:
    dataset: dict[str, Any] = {"type": e.dataset_type or e.dataset or "internal", "name": e.dataset or "internal"}
    if e.num_few_shot is not None:
        dataset["args"] = {"num_few_shot": e.num_few_shot}
    result: dict[str, Any] = {"task": {"type": "evaluation"}, "dataset": dataset,
                              "metrics": [{"type": e.metric, "value": e.value}]}
    if e.source_url:
        result["source"] = {"url": e.source_url}
    return result


def _rewrite_block(block: dict[str, Any], text: str, newline: str, *, keep_comments: bool, last: bool) -> str:
    """A block with new text, framed by the original's blank lines (and its comments, which are the
    template's guidance to the author, not content)."""
    original: str = block["text"]
    lead = re.match(r"(?:[ \t]*\r?\n)*", original).group(0)  # type: ignore[union-attr]
    trail = original[len(original.rstrip()):]
    comments = re.findall(r"<!--.*?-->", original, flags=re.S) if keep_comments else []
    content = newline.join(comments)
    if text.strip():
        content = f"{content}{newline * 2 if content else ''}{normalize_newlines(text).strip().replace(chr(10), newline)}"
    if not content:
        if block.get("kind") == "bold":
            return ""  # a bold line heads nothing any more: it goes with its text
        heading: str = block["heading"]
        return heading + lead + trail if "\n" in trail or last else heading + lead + newline
    if "\n" not in trail:
        trail = newline if last else newline * 2
    heading = block["heading"]
    return heading + lead + content + trail


def _hf_body_from_original(sections: dict[str, str], doc: dict[str, Any]) -> str:
    imported = doc["imported"]
    changed = {key for key in (*SECTIONS, "body_markdown") if not same_text(sections.get(key, ""), imported.get(key, ""))}
    if not changed:
        body: str = doc["body"]
        return body
    newline: str = doc.get("newline", "\n")
    blocks, owners = doc["blocks"], doc["owner_of"]
    count = len(blocks)
    pieces = [b["heading"] + b["text"] for b in blocks]
    before: dict[int, list[str]] = {}  # new text to put before block i (i == count: at the end)
    for key in SECTIONS:
        if key not in changed:
            continue
        owned = [i for i, owner in enumerate(owners) if owner == key]
        if owned:
            _rewrite_section(normalize_newlines(sections.get(key, "")).strip(), owned, blocks, pieces, newline)
        elif sections.get(key, "").strip():
            position, heading = _new_section_place(key, blocks, owners)
            text = normalize_newlines(sections[key]).strip().replace("\n", newline)
            before.setdefault(position, []).append(f"{heading}{newline}{newline}{text}{newline}")
    if "body_markdown" in changed:
        _rewrite_further_notes(sections.get("body_markdown", ""), blocks, owners, pieces, before, newline)
    out = ""
    for i in range(count + 1):
        for text in before.get(i, []):
            out = _blank_line_before(out, newline) + text
            if i < count:
                out += newline
        if i < count:
            out += pieces[i]
    return out


def _rewrite_section(new: str, owned: list[int], blocks: list[dict[str, Any]], pieces: list[str],
                     newline: str) -> None:
    """Write an edited section back into the blocks it came from (a section may gather several:
    "Uses" and "Direct Use"). Blocks whose text still opens or closes the edited text keep their
    bytes; the text between goes to the blocks between, or is appended to the block before it."""
    count = len(blocks)
    parts = [(i, _block_content(blocks[i])) for i in owned]
    parts = [(i, content) for i, content in parts if content]
    head = 0
    rest = new
    while head < len(parts) and (rest == parts[head][1] or rest.startswith(parts[head][1] + "\n\n")):
        rest = rest[len(parts[head][1]):].lstrip("\n")
        head += 1
    tail = len(parts)
    while tail > head and (rest == parts[tail - 1][1] or rest.endswith("\n\n" + parts[tail - 1][1])):
        rest = rest[: len(rest) - len(parts[tail - 1][1])].rstrip("\n")
        tail -= 1
    middle = parts[head:tail]
    if middle:
        for n, (i, _) in enumerate(middle):
            pieces[i] = _rewrite_block(blocks[i], rest if n == 0 else "", newline, keep_comments=True,
                                       last=i == count - 1)
        return
    if not rest:
        return
    text = rest.replace("\n", newline)
    if head:  # new text after an unchanged block: appended to it
        i = parts[head - 1][0]
        original = blocks[i]["heading"] + blocks[i]["text"]
        body = original.rstrip()
        trail = original[len(body):]
        pieces[i] = body + newline * 2 + text + (trail if "\n" in trail else newline)
    elif parts:  # new text before the first block that had any
        i = parts[0][0]
        pieces[i] = _rewrite_block(blocks[i], rest + "\n\n" + parts[0][1], newline, keep_comments=True,
                                   last=i == count - 1)
    else:
        i = owned[0]
        pieces[i] = _rewrite_block(blocks[i], rest, newline, keep_comments=True, last=i == count - 1)


def _blank_line_before(out: str, newline: str) -> str:
    if not out:
        return out
    if out.endswith(newline * 2):
        return out
    return out + (newline if out.endswith(newline) else newline * 2)


def _new_section_place(key: str, blocks: list[dict[str, Any]], owners: list[str | None]) -> tuple[int, str]:
    """Where a section the card did not have goes, and its heading: after the section before it in
    the Hugging Face template's order (and that section's subsections), else before the one after it,
    at the level and in the style (Markdown heading or bold line) of the card's own sections; in a
    card without any, right after the title."""
    present = [i for i, owner in enumerate(owners) if owner]
    title = SECTION_TITLES[key]
    if present:
        top = min(blocks[i]["level"] for i in present)
        heading = f"**{title}**" if top >= BOLD_LEVEL else f"{'#' * top} {title}"
        k = HF_ORDER.index(key)
        for previous in reversed(HF_ORDER[:k]):
            owned = [i for i in present if owners[i] == previous]
            if owned:
                j = owned[-1] + 1
                while j < len(blocks) and blocks[j]["level"] > top:
                    j += 1
                return j, heading
        for following in HF_ORDER[k + 1:]:
            owned = [i for i in present if owners[i] == following]
            if owned:
                return owned[0], heading
    headings = [i for i, b in enumerate(blocks) if b["heading"] and b.get("kind", "atx") == "atx"]
    if headings:
        first = min(headings, key=lambda i: (blocks[i]["level"], i))
        level = min(blocks[first]["level"] + 1, 6)
        return first + 1, f"{'#' * level} {title}"
    return len(blocks), f"## {title}"


def _rewrite_further_notes(new: str, blocks: list[dict[str, Any]], owners: list[str | None], pieces: list[str],
                           before: dict[int, list[str]], newline: str) -> None:
    """Put edited "further notes" back where its parts were: the notes are the card's unrecognised
    blocks in order, so the edited text is split the same way and matched to them by heading; an
    unchanged part keeps its bytes, a changed one its place, a new one goes after its predecessor."""
    unowned = [i for i, owner in enumerate(owners) if owner is None]
    old = [blocks[i] for i in unowned]
    fresh = markdown_blocks(normalize_newlines(new).strip(), bold_headings=any(b.get("kind") == "bold" for b in old))
    old_keys = [normalize_newlines(b["heading"]).strip() for b in old]
    new_keys = [normalize_newlines(b["heading"]).strip() for b in fresh]

    def text_of(block: dict[str, Any], *, last: bool) -> str:
        body = normalize_newlines(block["heading"] + block["text"]).strip().replace("\n", newline)
        return body + (newline if last else newline * 2)

    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for a, b in zip(range(i1, i2), range(j1, j2), strict=True):
                if not same_text(old[a]["text"], fresh[b]["text"]):
                    index = unowned[a]
                    pieces[index] = _rewrite_block(old[a], fresh[b]["text"], newline, keep_comments=False,
                                                   last=index == len(blocks) - 1)
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for n in range(paired):  # a renamed heading: the block keeps its place and its blank lines
            a, b = i1 + n, j1 + n
            heading = normalize_newlines(fresh[b]["heading"]).rstrip("\n").replace("\n", newline) + newline
            index = unowned[a]
            pieces[index] = _rewrite_block({**old[a], "heading": heading}, fresh[b]["text"], newline,
                                           keep_comments=False, last=index == len(blocks) - 1)
        i1, j1 = i1 + paired, j1 + paired
        for a in range(i1, i2):
            pieces[unowned[a]] = ""
        added = [text_of(fresh[b], last=False) for b in range(j1, j2)]
        if not added:
            continue
        if i1 < len(old):
            pieces[unowned[i1]] = "".join(added) + pieces[unowned[i1]]
        elif old:
            pieces[unowned[-1]] = pieces[unowned[-1]] + "".join(added)
        else:
            before.setdefault(len(blocks), []).extend(added)


