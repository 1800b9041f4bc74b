"""Demo data for the catalog's documents (issue 4): imported model cards, a card from a template,
a superseded decision record. Called once from clearance/demo_data.py, before readiness is computed."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from catalog.models import AISystem
from catalog.services.cards import model_card_draft, model_card_import, model_card_publish
from catalog.services.registers import dataset_save, vendor_save
from governance.choices import DecisionStatus
from governance.models import DecisionRecord
from governance.services.decisions import decision_record_decide, decision_record_propose

FILES = Path(__file__).resolve().parent.parent / "catalog" / "demo_files"


def seed_documents(users: dict[str, Any], say: Any) -> None:
    owner, risk = users["owner"], users["risk"]
    systems = {s.slug: s for s in AISystem.objects.all()}

    legacy = systems.get("legacy-sentiment-scorer")
    if legacy is not None:
        path = FILES / "legacy-sentiment-scorer_README.md"
        card = model_card_import(actor=owner, system=legacy, fmt="huggingface", content=path.read_bytes(),
                                 filename="README.md")
        model_card_draft(actor=owner, system=legacy, model_details="Fine-tuned DeBERTa v3 large scoring ticket sentiment.",
                         intended_use="Prioritise angry customers in the support queue (retired).",
                         limitations="Trained on English tickets only; sarcasm is misread.",
                         review_due=timezone.localdate() - timedelta(days=45))
        model_card_publish(actor=owner, card=card)

    forecaster = systems.get("demand-forecaster")
    if forecaster is not None:
        path = FILES / "demand-forecaster_model_card.json"
        model_card_import(actor=owner, system=forecaster, fmt="model_card_toolkit", content=path.read_bytes(),
                          filename=path.name)

    copilot = systems.get("support-copilot")
    if copilot is not None:
        first = DecisionRecord.objects.filter(system=copilot, status=DecisionStatus.ACCEPTED).order_by("pk").first()
        if first is not None:
            newer = decision_record_propose(
                actor=owner, system=copilot, supersedes=first,
                title="Pin the model version and keep agent approval",
                context="The provider retires model versions on short notice; an unpinned alias changed behaviour "
                        "once in testing.",
                options="1. Follow the provider's alias. 2. Pin a dated version and re-evaluate before moving.",
                decision="Option 2. Pin the dated model version; a move needs a passing evaluation run first. "
                         "Agents still approve every reply.",
                consequences="A re-evaluation per model upgrade (about a day of work).",
            )
            decision_record_decide(actor=risk, record=newer, to=DecisionStatus.ACCEPTED)
    _registers(users, systems)
    say("Documents: imported model cards (Hugging Face, Model Card Toolkit), a superseded decision record.")


def _registers(users: dict[str, Any], systems: dict[str, AISystem]) -> None:
    lead, owner, privacy = users["lead"], users["owner"], users["privacy"]
    today = timezone.localdate()

    def linked(*slugs: str) -> list[AISystem]:
        return [systems[slug] for slug in slugs if slug in systems]

    vendor_save(actor=lead, systems=linked("support-copilot", "contract-summariser", "sales-email-drafter"),
                name="Azure OpenAI", website="https://azure.microsoft.com/products/ai-services/openai-service",
                terms_reviewed_on=date(2025, 2, 3), dpa_status="signed", data_residency="EU (Sweden Central)",
                models_offered="gpt-4o, gpt-4o-mini, text-embedding-3-large", owner=lead,
                review_due=today + timedelta(days=200))
    vendor_save(actor=lead, systems=linked("marketing-images"), name="Acme Vision AI", dpa_status="requested",
                data_residency="US", models_offered="acme-diffusion-xl", owner=owner,
                notes="DPA requested 2025-03; image rights terms still under legal review.",
                review_due=today - timedelta(days=12))
    vendor_save(actor=lead, systems=linked("demand-forecaster", "legacy-sentiment-scorer", "churn-predictor"),
                name="In-house", dpa_status="not_required", data_residency="EU (own data centre)",
                models_offered="lightgbm-demand, distilbert-sentiment")
    dataset_save(actor=owner, systems=linked("support-copilot"), name="support-tickets-2024",
                 source="Zendesk export, EU instance", owner=owner, classification="confidential", personal_data=True,
                 personal_data_notes="Customer names, emails and free-text complaints",
                 collection_method="Nightly export of closed tickets; signatures and attachments removed.",
                 known_biases="English and German over-represented; few tickets from the phone channel.",
                 retention="24 months, then deleted", review_due=today + timedelta(days=90))
    dataset_save(actor=owner, systems=linked("demand-forecaster"), name="orders-2019-2024", source="ERP order lines",
                 owner=owner, classification="internal", collection_method="Daily ERP extract.",
                 known_biases="2020 lockdown months distort seasonality.", retention="7 years (finance)",
                 review_due=today - timedelta(days=20))
    dataset_save(actor=lead, systems=linked("cv-screening"), name="applicant-cvs-2023", owner=privacy,
                 source="Applicant tracking system", classification="restricted", personal_data=True,
                 personal_data_notes="CVs: names, contact details, work history, sometimes age and photos",
                 known_biases="Historic hiring decisions encode past bias; never use as labels.",
                 retention="6 months after the hiring decision")
