"""What both card formats share: the card's sections, the evidence a card reports, how a card
states a date, and how section texts compare (line breaks normalised: a browser submits every
textarea with CRLF line breaks, and a save that changes nothing must not count as an edit)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from clearance.errors import DomainError
from clearance.untrusted import fit_identifier

# What the evaluation results a card reports may hold (the columns of EvalResult).
METRIC_MAX = 100
DATASET_MAX = 200
RUN_ID_MAX = 200
DATASET_TYPE_MAX = 200
SOURCE_URL_MAX = 1000

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


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def same_text(a: str, b: str) -> bool:
    """Equal once line breaks are normalised and the ends stripped (how a saved form compares)."""
    return normalize_newlines(a or "").strip() == normalize_newlines(b or "").strip()


@dataclass
class EvalRow:
    """One metric value a document reports; becomes evaluation evidence on import."""

    metric: str
    value: float
    dataset: str
    run_id: str
    dataset_type: str = ""
    num_few_shot: int | None = None
    source_url: str = ""


@dataclass
class ParsedCard:
    sections: dict[str, str]
    source_format: str
    source_document: dict[str, Any]
    evals: list[EvalRow] = field(default_factory=list)
    name: str = ""
    # When the card says its results were observed (None: it does not say).
    observed_at: datetime | None = None
    # What the import recognised and what it kept without understanding (shown to the importer).
    report: dict[str, Any] = field(default_factory=dict)


def parse_card_date(value: Any) -> datetime | None:
    """A date a card states: a YAML date or datetime, an ISO 8601 string, YYYY/MM/DD or MM/DD/YYYY
    (the Model Card Toolkit's own examples write 08/28/2020; DD/MM/YYYY when the first part is over
    12). Midnight UTC for a date alone; None when it is not a date."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        pass
    match = re.fullmatch(r"(\d{4})/(\d{1,2})/(\d{1,2})", text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if not match:
            return None
        first, second, year = (int(g) for g in match.groups())
        month, day = (second, first) if first > 12 else (first, second)
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def refuse_nul(text: str) -> None:
    """A NUL character fits no text column: refused, with its line, like the forms refuse it."""
    at = text.find("\x00")
    if at >= 0:
        raise DomainError(f"line {text.count(chr(10), 0, at) + 1}: the file contains a NUL character", field="file")


def fit_dataset(value: str) -> str:
    """A dataset label the importer composed (name / config / split, an MCT slice) that fits its
    column, cut like a run id: it is part of the results' natural key, so two long labels must not
    become one."""
    return fit_identifier(value, DATASET_MAX)


def fit_run_id(value: str) -> str:
    """A run id that fits its column: a longer one keeps its start and a digest of the whole, so
    two long ids never collapse into one."""
    return fit_identifier(value, RUN_ID_MAX)


def metric_value(raw: Any, where: str, field: str) -> float:
    """A metric's value as a finite float (``.nan``, ``.inf``, ``1e400``, "Infinity" are refused),
    naming where it is."""
    if isinstance(raw, bool):
        raise DomainError(f"{where} must be a number, got {raw!r}", field=field)
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise DomainError(f"{where} must be a number, got {raw!r}", field=field) from None
    if not math.isfinite(value):
        raise DomainError(f"{where} must be a finite number, got {raw!r}", field=field)
    return value


def metric_name(raw: Any, where: str, field: str) -> str:
    name = str(raw)
    if len(name) > METRIC_MAX:
        raise DomainError(f"{where}: a metric name has at most {METRIC_MAX} characters ({len(name)} here)",
                          field=field)
    return name
