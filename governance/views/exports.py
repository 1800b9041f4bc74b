"""PDF export pages: a card or decision PDF (rendered on request), the audit dossier (a Celery job
with progress), and downloads. Every file is served only to readers of its system."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.models import AISystem, ModelCard
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, run_service
from governance.choices import ExportKind
from governance.models import DecisionRecord, DocumentExport
from governance.services import exports


def _serve(request: AuthenticatedHttpRequest, job: DocumentExport) -> HttpResponseBase:
    path = exports.export_file(job)
    if path is None:
        return render(request, "governance/export_detail.html", {"job": job, "system": job.system}, status=500)
    exports.export_downloaded(actor=request.user, job=job)
    return FileResponse(path.open("rb"), as_attachment=True, filename=exports.safe_filename(job),
                        content_type="application/pdf")


@login_required
def model_card_pdf(request: AuthenticatedHttpRequest, slug: str, version: int) -> HttpResponseBase:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    card = get_visible_or_404(ModelCard.objects.all(), system=system, version=version)
    job = exports.export_request(actor=request.user, system=system, kind=ExportKind.MODEL_CARD, object_id=card.pk)
    return _serve(request, exports.export_run(export_id=job.pk) or job)


@login_required
def decision_pdf(request: AuthenticatedHttpRequest, pk: int) -> HttpResponseBase:
    record = get_visible_or_404(DecisionRecord.objects.visible_to(request.user).select_related("system"), pk=pk)
    job = exports.export_request(actor=request.user, system=record.system, kind=ExportKind.DECISION,
                                 object_id=record.pk)
    return _serve(request, exports.export_run(export_id=job.pk) or job)


@login_required
@require_POST
def dossier_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = get_visible_or_404(AISystem.objects.visible_to(request.user), slug=slug)
    job = run_service(request, None,
                      lambda: exports.export_request(actor=request.user, system=system, kind=ExportKind.DOSSIER),
                      "Audit dossier queued; this page updates as it is built.")
    if job is None:
        return redirect("system-detail", slug=system.slug)
    return redirect("export-detail", pk=job.pk)


def _visible_job(request: AuthenticatedHttpRequest, pk: int) -> DocumentExport:
    return get_visible_or_404(DocumentExport.objects.visible_to(request.user).select_related("system", "requested_by"),
                              pk=pk)


@login_required
def export_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _visible_job(request, pk)
    return render(request, "governance/export_detail.html", {"job": job, "system": job.system})


@login_required
def export_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _visible_job(request, pk)
    return render(request, "governance/export_progress.html", {"job": job})


@login_required
def export_download(request: AuthenticatedHttpRequest, pk: int) -> HttpResponseBase:
    job = _visible_job(request, pk)
    if exports.export_file(job) is None:
        raise Http404("this export has no file")
    return _serve(request, job)
