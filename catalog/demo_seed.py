"""Demo evidence (issue 5): sources that really sync at seed time, budgets and cost history, so the
system pages show charts, sync runs and cost per 1,000 requests. Called once from the demo seed."""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.evidence import budget_set, source_create, sync_request, sync_run_execute

HERE = Path(__file__).resolve().parent / "demo_evidence"


def _focus_file(path: Path, rows: list[tuple[str, str, str, Decimal, int | None, str]]) -> None:
    header = ("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ServiceName,"
              "ResourceId,ConsumedQuantity,ConsumedUnit,Tags")
    lines = [header]
    for start, end, resource, cost, quantity, slug in rows:
        unit = "Requests" if quantity is not None else "Pages"
        lines.append(f'{cost:.2f},{cost:.2f},USD,{start},{end},Usage,Azure OpenAI,{resource},{quantity or 0},{unit},'
                     f'"{{""ai_system"": ""{slug}""}}"')
    path.write_text("\n".join(lines) + "\n")


def seed_evidence(*, owner: Any, say: Any) -> None:
    folder = Path(settings.EVIDENCE_ALLOWED_DIRS[0])
    folder.mkdir(parents=True, exist_ok=True)
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for day in range(90, 0, -1):
        start, end = today - timedelta(days=day), today - timedelta(days=day - 1)
        iso = "%Y-%m-%dT%H:%M:%SZ"
        requests = 9000 + (day * 137) % 2500
        rows.append((start.strftime(iso), end.strftime(iso), "aoai-support-eu", Decimal(requests) * Decimal("0.0042"),
                     requests, "support-copilot"))
        rows.append((start.strftime(iso), end.strftime(iso), "layoutlm-gpu-pool", Decimal(55 + day % 9), None,
                     "invoice-extractor"))
    bill = folder / "demo-focus-export.csv"
    _focus_file(bill, rows)
    results = folder / "demo-promptfoo-it-helpdesk.json"
    shutil.copyfile(HERE / "promptfoo_eval_output_v0.123.1.json", results)

    systems = {s.slug: s for s in AISystem.objects.filter(
        slug__in=["support-copilot", "invoice-extractor", "it-helpdesk-bot"])}
    synced = []
    for slug, budget in (("support-copilot", "1500"), ("invoice-extractor", "1200")):
        if slug not in systems:
            continue
        budget_set(actor=owner, system=systems[slug], monthly_amount=budget, currency="USD")
        source = source_create(actor=owner, system=systems[slug], kind="focus", name="Cloud bill (FOCUS)",
                                        location=str(bill), tag_key="ai_system", interval_minutes=24 * 60)
        synced.append(source)
    if "support-copilot" in systems:
        source_create(actor=owner, system=systems["support-copilot"], kind="mlflow", name="MLflow nightly evals",
                               location="http://127.0.0.1:5000", experiment="support-copilot",
                               run_filter="tags.ai_system = 'support-copilot'", metrics=["groundedness"])
    if "it-helpdesk-bot" in systems:
        synced.append(source_create(actor=owner, system=systems["it-helpdesk-bot"], kind="promptfoo",
                                             name="promptfoo regression suite", location=str(results)))
    for source in synced:
        run, _ = sync_request(actor=owner, source=source)
        sync_run_execute(run_id=run.pk)
    say(f"Configured evidence sources and synced {len(synced)} of them (FOCUS costs, promptfoo results).")
