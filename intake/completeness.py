"""The one rule for whether a request may go to triage: which answers it needs, how much of an answer
counts, and which answers contradict each other. The guided form, the one-page form, the submit
service and the API all ask ``submission_problems``; each problem names the question by its label.

Pure functions over a dict of answers (``intake.wizard.values_of``), so a form can ask before saving.
"""

from __future__ import annotations

from typing import Any

from catalog.choices import PERSONAL_DATA, DataCategory
from clearance.errors import labelled_error
from intake.choices import AnnexIIIArea

# The questions as the forms ask them; the messages below name each by this label.
LABELS: dict[str, str] = {
    "title": "Title",
    "problem": "Business problem",
    "business_outcome": "Business outcome and KPI (with today's baseline)",
    "why_ai": "Why AI?",
    "alternatives_considered": "Alternatives considered",
    "users_affected": "Who is affected?",
    "customer_facing": "Customers see or use the output",
    "human_in_the_loop": "A person reviews outputs before they take effect",
    "fallback": "Fallback when the model is wrong or unavailable",
    "data_categories": "Data categories",
    "annex_iii_area": "Area of use (EU AI Act Annex III)",
    "prohibited_practices": "Does the use involve any of these practices?",
    "interacts_with_people": "People interact with the system directly (e.g. a chatbot)",
    "generates_synthetic_content": "Generates text, images, audio or video",
    "vendor_model": "Vendor or model in mind",
    "expected_volume": "Expected volume (e.g. 2,000 requests a day)",
    "department": "Department",
    "kpi": "KPI",
    "kpi_baseline": "KPI baseline (today's value)",
    "kpi_target": "KPI target",
    "deterministic_parts": "Parts that stay deterministic",
    "data_sources": "Data sources",
    "privacy_lawful_basis": "Lawful basis",
    "privacy_data_subjects": "Data subjects",
    "privacy_retention": "Retention",
    "touches_annex_iii": "The output feeds decisions about people's access to work, credit, education, services or rights",
    "annex_iii_details": "How the output is used in those decisions",
    "latency_target": "Latency target",
    "monthly_budget": "Monthly budget (EUR)",
    "business_owner_candidate": "Business owner candidate",
    "technical_owner_candidate": "Technical owner candidate",
}

# What triage cannot do without: what the problem is and what success looks like, why AI rather than
# something simpler (and what else was looked at), and what data it touches.
NEEDED = ("title", "problem", "business_outcome", "why_ai", "alternatives_considered", "data_categories")
# Free-text answers that must say something: a letter or a word is not an answer triage can weigh.
SUBSTANTIAL = {"problem": 2, "business_outcome": 2, "why_ai": 2, "annex_iii_details": 2}


def _blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == [] or value == ()


def contradictions(values: dict[str, Any]) -> dict[str, list[str]]:
    """Answers that cannot all be true; checked when a draft is saved as well as at submission."""
    categories = set(values.get("data_categories") or [])
    problems: dict[str, list[str]] = {}
    if DataCategory.PUBLIC.value in categories and categories & PERSONAL_DATA:
        problems["data_categories"] = [
            f"{LABELS['data_categories']}: “{DataCategory.PUBLIC.label}” cannot go together with personal or "
            f"special-category data; untick one"]
    return problems


def submission_problems(values: dict[str, Any]) -> dict[str, list[str]]:
    """Everything that stops these answers from going to triage, by field (empty when they may)."""
    problems: dict[str, list[str]] = {}
    for name in NEEDED:
        if _blank(values.get(name)):
            problems[name] = [f"{LABELS[name]}: this answer is needed before the request goes to triage"]
    if values.get("touches_annex_iii"):
        if values.get("annex_iii_area") in (None, "", AnnexIIIArea.NONE):
            problems["annex_iii_area"] = [f"{LABELS['annex_iii_area']}: choose the area the decisions fall in"]
        if _blank(values.get("annex_iii_details")):
            problems["annex_iii_details"] = [f"{LABELS['annex_iii_details']}: this answer is needed before the "
                                             f"request goes to triage"]
    for name, words in SUBSTANTIAL.items():
        text = values.get(name)
        if name not in problems and isinstance(text, str) and text.strip() and len(text.split()) < words:
            problems[name] = [f"{LABELS[name]}: say a little more (at least {words} words) so triage can weigh it"]
    for name, messages in contradictions(values).items():
        problems.setdefault(name, []).extend(messages)
    return problems


def as_error(problems: dict[str, list[str]]) -> Exception:
    """The problems as one ValidationError; each message already names its question, which the
    views show as it is (code ``labelled``) rather than behind the field's internal name."""
    error: Exception = labelled_error(problems)
    return error
