"""Catalog benchmark: PDF generation time and the system page's query count, against baselines.

    uv run python bench/catalog_pages.py [--runs 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/catalog_pages.py

Migrates a throwaway database (a temp SQLite file unless DATABASE_URL is set; that database must be
disposable) and builds two systems: a small one (one card version, one decision, one evidence row)
and a large one (50 card versions, 100 decisions, 10,000 evidence rows). Prints, each as the median
of --runs runs in this process:
  - baseline: a minimal one-page PDF through the same WeasyPrint pipeline;
  - the PDF of a typical model card, and the audit dossier of the small and of the large system;
  - the system page's render time and query count for both systems (the small one is the baseline).
Figures, not assertions: compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import AISystem  # noqa: E402
from catalog.services.cards import model_card_draft, model_card_publish  # noqa: E402
from catalog.services.systems import system_create  # noqa: E402
from governance.models import DocumentExport  # noqa: E402


def median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm-up: templates, fonts
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def build(name: str, *, versions: int, decisions: int, evidence: int, users: dict[str, User]) -> AISystem:
    from catalog.models import EvalResult
    from governance.services.decisions import decision_record_decide, decision_record_propose

    owner, lead = users["owner"], users["lead"]
    system = system_create(actor=lead, name=name, purpose="Summarise support tickets for agents. " * 3,
                                   risk_tier="limited", business_owner=lead, technical_owner=owner, risk_owner=owner,
                                   vendor="Azure OpenAI", model_name="gpt-4o")
    for version in range(1, versions + 1):
        card = model_card_draft(
            actor=owner, system=system, template="llm_rag" if version == 1 else "",
            model_details=f"gpt-4o behind retrieval, revision {version}. " * 4,
            intended_use="Agents read a summary before replying.\n\n- escalations\n- refunds",
            limitations="Misses attachments; can misstate refund rules. " * 3)
        model_card_publish(actor=owner, card=card)
    for number in range(decisions):
        record = decision_record_propose(actor=owner, system=system, title=f"Decision {number}",
                                         context="Context of the decision. " * 5, decision="We decided. " * 4,
                                         options="- a\n- b", consequences="Some consequences. " * 3)
        decision_record_decide(actor=lead, record=record, to="accepted" if number % 3 else "rejected")
    now = timezone.now()
    EvalResult.objects.bulk_create([
        EvalResult(system=system, metric=("faithfulness", "citation_accuracy", "latency_p95")[i % 3],
                   value=0.8 + (i % 17) / 100, source="bench", source_run_id=f"run-{i}", dataset="golden-v1",
                   observed_at=now - timedelta(minutes=i)) for i in range(evidence)], batch_size=2000)
    return system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    out = Path(tempfile.mkdtemp(prefix="clearance-bench-exports-"))
    settings.EXPORT_DIR = out
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth.models import Group

    from catalog.lib.pdf import write_pdf_atomically
    from catalog.models import ModelCard
    from governance.services import exports
    from governance.services.readiness import readiness_recompute

    users: dict[str, User] = {}
    for name, role in (("owner", "system-owner"), ("lead", "governance-lead")):
        users[name] = User.objects.create_user(username=f"bench-{name}", password="x")
        users[name].groups.add(Group.objects.get_or_create(name=role)[0])
    start = time.perf_counter()
    small = build("Small system", versions=1, decisions=1, evidence=1, users=users)
    large = build("Large system", versions=50, decisions=100, evidence=10_000, users=users)
    for system in (small, large):
        readiness_recompute(system_id=system.pk)
    print(f"database: {connection.vendor}, runs: {args.runs}, setup {time.perf_counter() - start:.1f} s")

    def baseline_pdf() -> None:
        write_pdf_atomically(out / "baseline.pdf", "pdf/model_card.html",
                             {"system": small, "card": None, "card_sections": [], "title": "baseline"})

    def export(kind: str, system: AISystem, object_id: int | None = None) -> Callable[[], DocumentExport]:
        def call() -> DocumentExport:
            job = exports.export_run(export_id=exports.export_request(
                actor=users["lead"], system=system, kind=kind, object_id=object_id).pk)
            assert job is not None and job.status == "succeeded", job and job.error
            path = exports.export_file(job)
            assert path is not None
            path.unlink()
            return job
        return call

    base = median_ms(baseline_pdf, args.runs)
    print(f"{'baseline PDF (empty page)':<40} median {base:8.1f} ms")
    card = ModelCard.objects.filter(system=large).order_by("-version").first()
    assert card is not None
    rows = [
        ("model card PDF (typical card)", export("model_card", large, card.pk)),
        ("audit dossier PDF, small system", export("dossier", small)),
        ("audit dossier PDF, large system", export("dossier", large)),
    ]
    for label, call in rows:
        ms = median_ms(call, args.runs)
        pages = call().pages
        print(f"{label:<40} median {ms:8.1f} ms  x{ms / base:5.1f} baseline  ({pages} pages)")

    client = Client()
    client.force_login(users["lead"])

    def page(system: AISystem) -> Callable[[], None]:
        def call() -> None:
            response = client.get(f"/systems/{system.slug}/")
            assert response.status_code == 200
        return call

    counts: dict[int, int] = {}
    for system in (small, large):
        with CaptureQueriesContext(connection) as queries:
            page(system)()
        counts[system.pk] = len(queries)
    small_ms = median_ms(page(small), args.runs)
    large_ms = median_ms(page(large), args.runs)
    print(f"{'system page, small (baseline)':<40} median {small_ms:8.1f} ms  {counts[small.pk]} queries")
    print(f"{'system page, 50 cards/100 ADRs/10k evals':<40} median {large_ms:8.1f} ms  x{large_ms / small_ms:5.2f} "
          f"baseline  {counts[large.pk]} queries (x{counts[large.pk] / counts[small.pk]:.2f})")


if __name__ == "__main__":
    main()
