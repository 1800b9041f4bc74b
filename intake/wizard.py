"""The guided request form: steps, their questions, the sections that appear only when earlier
answers make them relevant, and what each step still needs.

Pure data and small functions; the view renders a step with ``StepForm`` and the services save it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog.choices import PERSONAL_DATA
from intake.choices import AnnexIIIArea


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    fields: tuple[str, ...]
    required: tuple[str, ...] = ()
    intro: str = ""
    # The answer that makes this section relevant (None: always shown).
    controlled_by: str = ""


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    intro: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def controls(self) -> set[str]:
        return {s.controlled_by for s in self.sections if s.controlled_by}


def _personal(values: dict[str, Any]) -> bool:
    return bool(PERSONAL_DATA & set(values.get("data_categories") or []))


def _annex(values: dict[str, Any]) -> bool:
    return bool(values.get("touches_annex_iii"))


CONDITIONS = {"privacy": _personal, "annex": _annex}

STEPS: tuple[Step, ...] = (
    Step("problem", "Problem and KPI", "What hurts today, and the number that will show it got better.", (
        Section("main", "", ("title", "department", "problem", "business_outcome", "kpi", "kpi_baseline", "kpi_target"),
                ("title", "department", "problem", "business_outcome", "kpi", "kpi_baseline")),
    )),
    Step("alternatives", "Should this use AI at all?",
         "Many requests are better served by rules, a report or a process change. Say what you considered.", (
        Section("main", "", ("alternatives_considered", "why_ai", "deterministic_parts"),
                ("alternatives_considered", "why_ai", "deterministic_parts")),
    )),
    Step("people", "People and oversight", "Who meets the output, who checks it, and what happens when it is wrong.", (
        Section("main", "", ("users_affected", "customer_facing", "interacts_with_people", "generates_synthetic_content",
                             "human_in_the_loop", "fallback", "prohibited_practices", "touches_annex_iii"),
                ("users_affected", "fallback")),
        Section("annex", "EU AI Act Annex III", ("annex_iii_area", "annex_iii_details"),
                ("annex_iii_area", "annex_iii_details"),
                "Uses that shape decisions about people's jobs, credit, education, essential services or rights "
                "are high-risk under the EU AI Act. These answers decide the obligations that apply.",
                controlled_by="touches_annex_iii"),
    )),
    Step("data", "Data", "What the system reads and where it comes from.", (
        Section("main", "", ("data_categories", "data_sources"), ("data_categories", "data_sources")),
        Section("privacy", "Privacy", ("privacy_lawful_basis", "privacy_data_subjects", "privacy_retention"),
                ("privacy_lawful_basis", "privacy_data_subjects", "privacy_retention"),
                "Personal data is involved, so the privacy team needs these before its review.",
                controlled_by="data_categories"),
    )),
    Step("vendor", "Vendor, volume and cost", "What you would buy or build, how much it runs, and what it may cost.", (
        Section("main", "", ("vendor_model", "expected_volume", "latency_target", "monthly_budget"),
                ("vendor_model", "expected_volume", "monthly_budget")),
    )),
    Step("owners", "Owners", "Who could own the system once it exists. Triage confirms the owners.", (
        Section("main", "", ("business_owner_candidate", "technical_owner_candidate"), ("business_owner_candidate",)),
    )),
)
REVIEW_STEP = "review"
STEP_SLUGS = [s.slug for s in STEPS]
STEP_BY_SLUG = {s.slug: s for s in STEPS}

# What a good answer looks like, shown under each question.
HELP: dict[str, str] = {
    "title": "A short name people will recognise, e.g. \"Support ticket summaries\".",
    "department": "The team or business unit that has the problem, e.g. Customer Support.",
    "problem": "Describe the problem in the words of the people who have it, with a concrete example.",
    "business_outcome": "What changes for the business when this works.",
    "kpi": "One measurable indicator, e.g. \"average handling time per ticket\".",
    "kpi_baseline": "Today's value and where it comes from, e.g. \"14 min (Q3 service report)\". "
                    "Without a baseline nobody can tell whether it worked.",
    "kpi_target": "The value you expect, e.g. \"10 min within 3 months\".",
    "alternatives_considered": "Tick everything you looked at before choosing AI.",
    "why_ai": "Why the simpler options fall short, e.g. \"the input is free text in 12 languages\".",
    "deterministic_parts": "Which steps stay rules or code (routing, thresholds, approvals). Write \"none\" if none.",
    "users_affected": "Who sees or is affected by the output: employees, customers, applicants…",
    "customer_facing": "Tick if customers see or use the output directly.",
    "interacts_with_people": "A chatbot or voice assistant people talk to (EU AI Act Article 50).",
    "generates_synthetic_content": "Text, images, audio or video that could be mistaken for human-made.",
    "human_in_the_loop": "Tick if a person reviews every output before it takes effect.",
    "fallback": "What happens when the model is wrong or down, e.g. \"agents read the thread as today\".",
    "prohibited_practices": "EU AI Act Article 5. Any of these makes the use case prohibited.",
    "touches_annex_iii": "Tick if the output feeds decisions about people in employment, credit, insurance, "
                         "education, essential services, biometrics, law enforcement, migration or justice.",
    "annex_iii_area": "The area the decisions fall in.",
    "annex_iii_details": "How the output is used in those decisions, and who takes the final decision.",
    "data_categories": "Tick every category the system reads or produces.",
    "data_sources": "Systems and datasets, e.g. \"Zendesk tickets of the last 12 months\".",
    "privacy_lawful_basis": "The GDPR Article 6 basis for this processing; ask privacy if unsure.",
    "privacy_data_subjects": "Whose data: customers, employees, applicants, minors…",
    "privacy_retention": "How long inputs and outputs are kept, e.g. \"30 days, then deleted\".",
    "vendor_model": "A vendor and model, e.g. \"Azure OpenAI gpt-4o\", or \"undecided\".",
    "expected_volume": "Requests, documents or users per day or month.",
    "latency_target": "How fast an answer must come back, e.g. \"under 3 s\" or \"overnight batch\".",
    "monthly_budget": "A rough monthly run cost in euros (licences, API calls, hosting).",
    "business_owner_candidate": "Accountable for the outcome; usually a manager in the requesting team.",
    "technical_owner_candidate": "Builds and runs the system.",
}


def active_sections(step: Step, values: dict[str, Any]) -> list[Section]:
    return [s for s in step.sections if not s.controlled_by or CONDITIONS[s.key](values)]


def _empty(name: str, value: Any) -> bool:
    if name == "annex_iii_area":
        return value in (None, "", AnnexIIIArea.NONE)
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == []


def values_of(obj: Any) -> dict[str, Any]:
    names = {n for s in STEPS for sec in s.sections for n in sec.fields}
    return {n: getattr(obj, n) for n in names}


def step_gaps(step: Step, values: dict[str, Any]) -> list[str]:
    """The required answers this step still lacks (field names), given the current answers."""
    return [n for sec in active_sections(step, values) for n in sec.required if _empty(n, values.get(n))]


def questionnaire_gaps(obj: Any) -> dict[str, list[str]]:
    """Every step with missing answers (empty when the request can be submitted from the wizard)."""
    values = values_of(obj)
    gaps = {step.slug: step_gaps(step, values) for step in STEPS}
    return {slug: names for slug, names in gaps.items() if names}


def resume_step(obj: Any) -> str:
    """Where a returning requester continues: the first step with a gap, else the review."""
    gaps = questionnaire_gaps(obj)
    return next((slug for slug in STEP_SLUGS if slug in gaps), REVIEW_STEP)


def next_step(slug: str) -> str:
    i = STEP_SLUGS.index(slug)
    return STEP_SLUGS[i + 1] if i + 1 < len(STEP_SLUGS) else REVIEW_STEP


def previous_step(slug: str) -> str | None:
    if slug == REVIEW_STEP:
        return STEP_SLUGS[-1]
    i = STEP_SLUGS.index(slug)
    return STEP_SLUGS[i - 1] if i else None
