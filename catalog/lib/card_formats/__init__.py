"""Hugging Face model cards and Model Card Toolkit JSON: parse into card sections, export back.

Pure functions (no database). A parsed document keeps everything the app does not model: the
original front matter as text, the Markdown body split into heading blocks, or the original JSON and
its text. Export starts from that original and rewrites only the sections edited since the import,
each in its own place, so an unedited card goes out byte for byte as it came in and an edit shows
as a change of the edited section only.

``common`` holds what both formats share, ``huggingface`` and ``toolkit`` one format each.
"""

from catalog.lib.card_formats.common import (
    DATASET_MAX,
    METRIC_MAX,
    RUN_ID_MAX,
    SECTION_TITLES,
    SECTIONS,
    EvalRow,
    ParsedCard,
    fit_dataset,
    fit_run_id,
    metric_name,
    metric_value,
    normalize_newlines,
    parse_card_date,
    same_text,
)
from catalog.lib.card_formats.huggingface import (
    HF_HEADINGS,
    HF_ORDER,
    export_hugging_face,
    markdown_blocks,
    parse_hugging_face,
)
from catalog.lib.card_formats.toolkit import dump_json, export_model_card_toolkit, parse_model_card_toolkit

__all__ = [
    "DATASET_MAX", "METRIC_MAX", "RUN_ID_MAX", "fit_dataset", "fit_run_id", "metric_name", "metric_value",
    "HF_HEADINGS", "HF_ORDER", "SECTIONS", "SECTION_TITLES", "EvalRow", "ParsedCard", "dump_json",
    "export_hugging_face", "export_model_card_toolkit", "markdown_blocks", "normalize_newlines", "parse_card_date",
    "parse_hugging_face", "parse_model_card_toolkit", "same_text",
]
