"""PDF exports of model cards, decision records and a system's audit dossier (tracked jobs).

``export_request`` writes the job row (and, for a dossier, the outbox message that starts the Celery
task) in one transaction; ``export_run`` claims the row with a conditional update, so a duplicate
delivery does nothing, reports progress on the row as it gathers each part, renders the PDF and
writes it atomically. Any failure marks the job failed with the error and leaves no file.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from catalog.lib.card_formats import SECTIONS
from catalog.lib.pdf import PdfError, write_pdf_atomically
from catalog.models import AISystem, EvalResult, ModelCard
from clearance.audit import audit_record
from clearance.errors import DomainError
from clearance.leases import Heartbeat, lease_deadline
from clearance.outbox import outbox_complete, outbox_due_with_lease, outbox_enqueue
from governance.choices import ExportKind, ExportStatus
from governance.models import DecisionRecord, DocumentExport, ReadinessVerdict, Review
from governance.selectors.system_page import system_timeline
from risks.choices import AcceptanceStatus
from risks.models import Risk, RiskAcceptance, appetite

log = logging.getLogger(__name__)

TEMPLATE_FOR: dict[str, str] = {
    ExportKind.MODEL_CARD: "pdf/model_card.html",
    ExportKind.DECISION: "pdf/decision.html",
    ExportKind.DOSSIER: "pdf/dossier.html",
}
SECTION_LABELS = {
    "model_details": "Model details", "intended_use": "Intended use", "out_of_scope_use": "Out-of-scope use",
    "training_data": "Training data", "evaluation_data": "Evaluation data", "metrics": "Metrics",
    "limitations": "Limitations", "ethical_considerations": "Ethical considerations",
    "caveats": "Caveats and recommendations", "body_markdown": "Further notes",
}
# A dossier lists the newest observations in full and summarises the rest per metric.
DOSSIER_EVIDENCE_ROWS = 200
DOSSIER_TIMELINE_ROWS = 300


def export_dir() -> Path:
    return Path(getattr(settings, "EXPORT_DIR", settings.VAR_DIR / "exports"))


def export_request(*, actor: User, system: AISystem, kind: str, object_id: int | None = None) -> DocumentExport:
    if kind not in ExportKind.values:
        raise DomainError(f"unknown export kind {kind!r}", field="kind")
    if kind == ExportKind.MODEL_CARD and (
        object_id is None or not ModelCard.objects.filter(system=system, pk=object_id).exists()
    ):
        raise DomainError("no such model card for this system", field="object_id")
    if kind == ExportKind.DECISION and (
        object_id is None or not DecisionRecord.objects.filter(system=system, pk=object_id).exists()
    ):
        raise DomainError("no such decision record for this system", field="object_id")
    with transaction.atomic():
        job = DocumentExport.objects.create(kind=kind, system=system, object_id=object_id, requested_by=actor)
        audit_record(actor=actor, action="export.requested", obj=job,
                     data={"kind": kind, "system": system.slug, "object_id": object_id})
        if kind == ExportKind.DOSSIER:
            outbox_enqueue(task_name="governance.run_export", export_id=job.pk)
    return job


def _progress(job: DocumentExport, percent: int, step: str) -> None:
    # Outside any transaction, so the page that polls the row sees each step as it happens.
    DocumentExport.objects.filter(pk=job.pk, status=ExportStatus.RUNNING, attempts=job.attempts).update(
        progress=percent, step=step)


INTERRUPTED = "interrupted: the process building it stopped before it finished"


def _give_up_if_interrupted_too_often(export_id: int, now: datetime, outbox_id: int | None) -> None:
    """A job whose worker died EXPORT_MAX_ATTEMPTS times is failed rather than tried again."""
    with transaction.atomic():
        failed = DocumentExport.objects.filter(
            pk=export_id, status=ExportStatus.RUNNING, lease_until__lt=now,
            attempts__gte=settings.EXPORT_MAX_ATTEMPTS,
        ).update(status=ExportStatus.FAILED, finished_at=now, lease_until=None, step="failed",
                 error=f"{INTERRUPTED}, {settings.EXPORT_MAX_ATTEMPTS} times; request it again")
        if failed:
            job = DocumentExport.objects.get(pk=export_id)
            audit_record(actor=None, action="export.failed", obj=job, data={"kind": job.kind, "error": job.error})
            outbox_complete(message_id=outbox_id)


def export_run(*, export_id: int, outbox_id: int | None = None) -> DocumentExport | None:
    """Produce the PDF of one queued job; None when another worker has it or it is already over.

    The job is claimed with a conditional update: queued, or running under a lease that passed
    because the worker building it died (then this is the next attempt). A heartbeat renews the
    lease while the PDF is built; the outbox message is completed with the job's final status."""
    now = timezone.now()
    _give_up_if_interrupted_too_often(export_id, now, outbox_id)
    lease = lease_deadline(now)
    claimed = DocumentExport.objects.filter(
        Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, lease_until__lt=now), pk=export_id
    ).update(status=ExportStatus.RUNNING, started_at=now, progress=1, step="starting", error="",
             attempts=F("attempts") + 1, lease_until=lease)
    if not claimed:
        status = DocumentExport.objects.filter(pk=export_id).values_list("status", flat=True).first()
        if status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            outbox_complete(message_id=outbox_id)  # gone or finished: nothing left to do
        return None
    outbox_due_with_lease(message_id=outbox_id, lease_until=lease)
    job = DocumentExport.objects.select_related("system", "requested_by").get(pk=export_id)
    attempt = job.attempts
    if attempt > 1:
        log.warning("export %s: attempt %s, after an earlier attempt was interrupted", export_id, attempt)

    def renew(until: datetime) -> bool:
        return DocumentExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, attempts=attempt).update(
            lease_until=until) > 0

    def finish(**fields: Any) -> bool:
        """Record the outcome if this attempt still holds the job (a later one may have taken it)."""
        return DocumentExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, attempts=attempt).update(
            finished_at=timezone.now(), lease_until=None, **fields) > 0

    try:
        with Heartbeat(renew, what=f"export {export_id}", outbox_id=outbox_id):
            context = _context(job)
            _progress(job, 85, "rendering the PDF")
            name = f"{job.pk}-{job.system.slug}-{job.kind}{_suffix(job, context)}.pdf"
            pdf = write_pdf_atomically(export_dir() / name, TEMPLATE_FOR[job.kind], context)
    except Exception as exc:
        message = str(exc) if isinstance(exc, PdfError) else f"{type(exc).__name__}: {exc}"
        log.warning("export %s failed: %s", export_id, message)
        with transaction.atomic():
            if finish(status=ExportStatus.FAILED, error=message[:4000], step="failed"):
                job.refresh_from_db()
                audit_record(actor=None, action="export.failed", obj=job, data={"kind": job.kind, "error": message[:500]})
                outbox_complete(message_id=outbox_id)
        job.refresh_from_db()
        return job
    with transaction.atomic():
        if not finish(status=ExportStatus.SUCCEEDED, progress=100, step="done", file_name=name, size=pdf.size,
                      pages=pdf.pages, sha256=pdf.sha256):
            log.warning("export %s: attempt %s lost its lease before it finished; the later attempt stands",
                        export_id, attempt)
            return None
        job.refresh_from_db()
        audit_record(actor=None, action="export.generated", obj=job,
                     data={"kind": job.kind, "system": job.system.slug, "pages": pdf.pages, "sha256": pdf.sha256})
        outbox_complete(message_id=outbox_id)
    return job


def exports_reap(*, now: datetime | None = None) -> int:
    """Fail card and decision PDFs whose web process died while rendering them (their lease passed
    with a margin; nobody queues them again, the person who asked sees the failure and asks again).
    Dossiers are not reaped here: their outbox message takes them back and tries again."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    reaped = 0
    for export_id in (DocumentExport.objects.filter(status=ExportStatus.RUNNING, lease_until__lt=stale)
                      .exclude(kind=ExportKind.DOSSIER).values_list("pk", flat=True)):
        with transaction.atomic():
            if DocumentExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, lease_until__lt=stale).update(
                    status=ExportStatus.FAILED, finished_at=now, lease_until=None, step="failed",
                    error=f"{INTERRUPTED}; request it again"):
                job = DocumentExport.objects.get(pk=export_id)
                audit_record(actor=None, action="export.failed", obj=job, data={"kind": job.kind, "error": job.error})
                reaped += 1
    if reaped:
        log.warning("exports: %d interrupted export(s) failed", reaped)
    return reaped


def export_file(job: DocumentExport) -> Path | None:
    if job.status != ExportStatus.SUCCEEDED or not job.file_name:
        return None
    path = export_dir() / job.file_name
    return path if path.is_file() else None


def export_downloaded(*, actor: User, job: DocumentExport) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="export.downloaded", obj=job, data={"kind": job.kind, "sha256": job.sha256})


def _suffix(job: DocumentExport, context: dict[str, Any]) -> str:
    if job.kind == ExportKind.MODEL_CARD:
        return f"-v{context['card'].version}"
    if job.kind == ExportKind.DECISION:
        return f"-adr-{context['record'].pk}"
    return ""


def _card_context(card: ModelCard) -> dict[str, Any]:
    sections = [(SECTION_LABELS[name], getattr(card, name)) for name in (*SECTIONS, "body_markdown")]
    return {"card": card, "card_sections": sections}


def _document_id(job: DocumentExport) -> int:
    """The exported document of a model card or decision export (export_request made sure there is one)."""
    if job.object_id is None:
        raise DomainError(f"a {job.get_kind_display().lower()} export names no document", field="object_id")
    return job.object_id


def _context(job: DocumentExport) -> dict[str, Any]:
    system = AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").get(pk=job.system_id)
    base = {"system": system, "job": job, "generated_at": timezone.now()}
    if job.kind == ExportKind.MODEL_CARD:
        card = ModelCard.objects.select_related("published_by", "created_by").get(pk=_document_id(job), system=system)
        _progress(job, 40, "model card")
        return {**base, **_card_context(card), "title": f"{system.name} — model card v{card.version}",
                "doc_label": f"Model card v{card.version}"}
    if job.kind == ExportKind.DECISION:
        record = (DecisionRecord.objects.select_related("created_by", "supersedes", "request")
                  .prefetch_related("deciders").get(pk=_document_id(job), system=system))
        from governance.selectors.decisions import decision_chain

        _progress(job, 40, "decision record")
        return {**base, "record": record, "chain": decision_chain(record),
                "title": f"{record.reference}: {record.title}", "doc_label": record.reference}
    return {**base, **dossier_context(job, system)}


def dossier_context(job: DocumentExport | None, system: AISystem) -> dict[str, Any]:
    def step(percent: int, label: str) -> None:
        if job is not None:
            _progress(job, percent, label)

    step(10, "readiness")
    verdicts = list(ReadinessVerdict.objects.filter(system=system).order_by("environment"))
    step(25, "model card")
    card = (ModelCard.objects.filter(system=system, status="published").select_related("published_by")
            .order_by("-version").first())
    versions = list(ModelCard.objects.filter(system=system).order_by("-version")
                    .values("version", "status", "published_at"))
    step(40, "decision records")
    decisions = list(DecisionRecord.objects.filter(system=system).select_related("created_by", "supersedes")
                     .prefetch_related("deciders").order_by("created_at", "pk"))
    step(55, "approvals")
    reviews = list(Review.objects.filter(system=system).select_related("decided_by", "assignee", "request")
                   .order_by("opened_at", "pk"))
    step(65, "evidence")
    evidence = EvalResult.objects.filter(system=system)
    summary: list[dict[str, Any]] = [
        dict(row) for row in evidence.values("metric").annotate(
            n=Count("pk"), low=Min("value"), high=Max("value"), last=Max("observed_at")).order_by("metric")
    ]
    latest: dict[str, float] = {}
    for row in evidence.order_by("metric", "-observed_at", "-pk").values("metric", "value"):
        latest.setdefault(row["metric"], row["value"])
    for entry in summary:
        entry["latest"] = latest[entry["metric"]]
    recent = list(evidence.order_by("-observed_at", "-pk")[:DOSSIER_EVIDENCE_ROWS])
    step(70, "risks")
    risks = dossier_risks(system, timezone.now())
    step(75, "timeline")
    timeline = list(system_timeline(system)[:DOSSIER_TIMELINE_ROWS])
    return {
        "title": f"Audit dossier — {system.name}",
        "doc_label": "Audit dossier",
        "verdicts": verdicts,
        **(_card_context(card) if card else {"card": None}),
        "card_versions": versions,
        "decisions": decisions,
        "reviews": reviews,
        "evidence_summary": summary,
        "evidence_recent": recent,
        "evidence_total": sum(row["n"] for row in summary),
        "risks": risks,
        "risk_appetite": appetite(system.risk_tier),
        "timeline": timeline,
    }


ACCEPTANCE_STATE = {
    AcceptanceStatus.LAPSED: "Lapsed: the risk's scores or treatment changed",
    AcceptanceStatus.EXPIRED: "Lapsed: expired",
    AcceptanceStatus.REVOKED: "Replaced by a later acceptance",
}


def dossier_risks(system: AISystem, now: datetime) -> list[dict[str, Any]]:
    """The system's risks (its own and the portfolio-wide ones linked to it), highest residual score
    first, each with every acceptance given for this system: current, or why it no longer counts
    (lapsed on a change, expired, replaced). Two queries, whatever the number of risks."""
    risks = list(Risk.objects.filter(systems=system).select_related("owner"))
    acceptances: dict[int, list[dict[str, Any]]] = {}
    for acceptance in (RiskAcceptance.objects.filter(system=system, risk__in=[r.pk for r in risks])
                       .select_related("approved_by").order_by("-accepted_at", "-pk")):
        risk = next(r for r in risks if r.pk == acceptance.risk_id)
        if acceptance.is_current(risk, now):
            state, current = "Current", True
        elif acceptance.status == AcceptanceStatus.ACTIVE:
            # Not yet marked by the periodic task or by the change that lapsed it: say why it does not count.
            state = "Lapsed: expired" if acceptance.expires_at <= now else ACCEPTANCE_STATE[AcceptanceStatus.LAPSED]
            current = False
        else:
            state, current = ACCEPTANCE_STATE.get(AcceptanceStatus(acceptance.status), acceptance.status), False
        acceptances.setdefault(acceptance.risk_id, []).append(
            {"acceptance": acceptance, "state": state, "current": current})
    risks.sort(key=lambda r: (-r.residual_score, -r.score, r.pk))
    return [{"risk": r, "acceptances": acceptances.get(r.pk, []),
             "accepted": any(a["current"] for a in acceptances.get(r.pk, []))} for r in risks]


def safe_filename(job: DocumentExport) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", job.file_name or f"export-{job.pk}.pdf")
