"""Demo data for the catalog's documents (issue 4): imported model cards, a card from a template,
a superseded decision record. Called once from clearance/demo_data.py, before readiness is computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog.models import AISystem
from catalog.services import model_card_draft, model_card_import, model_card_publish
from governance.choices import DecisionStatus
from governance.models import DecisionRecord
from governance.services import decision_record_decide, decision_record_propose

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
                         limitations="Trained on English tickets only; sarcasm is misread.")
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
    say("Documents: imported model cards (Hugging Face, Model Card Toolkit), a superseded decision record.")
