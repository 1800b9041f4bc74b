"""Compliance pages: a system's statement of applicability with each control's status and evidence,
and the portfolio coverage of one framework. Every status comes from ``compliance.selectors`` (the
gate's facts and engine); the number of queries does not grow with systems or controls."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from catalog.choices import RiskTier
from catalog.models import AISystem
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, run_service, spreadsheet_cell
from compliance.choices import ControlStatus
from compliance.forms import AttestationForm, FrameworkImportForm, OperatorProfileForm
from compliance.loader import Library, LibraryError, load_library
from compliance.oscal import MAX_OSCAL_BYTES, export_json
from compliance.permissions import can_attest, can_export_frameworks, can_import_frameworks, can_view_coverage
from compliance.selectors import compliance_many, coverage, obligation_calendar
from compliance.services import attestation_record, framework_import, operator_profile_set
from governance.selectors.facts import for_facts


def library_or_error(request: AuthenticatedHttpRequest) -> Library | HttpResponse:
    """The framework library, or a page saying why it does not load (never a 500): fail closed, show
    no status at all rather than one from a half-read library."""
    try:
        return load_library()
    except LibraryError as exc:
        return render(request, "compliance/library_error.html", {"problems": exc.lines()}, status=503)


def _system(request: AuthenticatedHttpRequest, slug: str) -> AISystem:
    return get_visible_or_404(for_facts(AISystem.objects.visible_to(request.user)), slug=slug)


def _controls(library: Library) -> list[tuple[str, str]]:
    return [(c.key, f"{f.name} · {c.ref or c.id} {c.title}") for f in library.frameworks.values() for c in f.controls]


def _render_system(request: AuthenticatedHttpRequest, system: AISystem, library: Library,
                   attest_form: AttestationForm | None = None, profile_form: OperatorProfileForm | None = None,
                   status: int = 200) -> HttpResponse:
    now = timezone.now()
    sc = compliance_many([system], now, library)[system.pk]
    editable = can_attest(request.user, system)
    if editable:
        attest_form = attest_form or AttestationForm(controls=_controls(library),
                                                     initial={"control": request.GET.get("control", "")})
        profile_form = profile_form or OperatorProfileForm(initial={
            "role": sc.profile.role, "gpai_model": sc.profile.gpai_model, "generative": sc.profile.generative})
    frameworks = [(library.frameworks[fid], results,
                   [(status, ControlStatus(status).label, n) for status, n in sc.counts(fid).items() if n],
                   {c.key: library.related(c.key) for c in library.frameworks[fid].controls})
                  for fid, results in sc.results.items()]
    return render(request, "compliance/system.html", {
        "system": system, "sc": sc, "frameworks": frameworks, "editable": editable, "now": now,
        "calendar": obligation_calendar(sc, now),
        "attest_form": attest_form, "profile_form": profile_form,
    }, status=status)


@login_required
def system_compliance(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The statement of applicability: which controls bind this system and why, each one's status, the
    evidence that decided it and where to fix it."""
    system = _system(request, slug)
    library = library_or_error(request)
    if isinstance(library, HttpResponse):
        return library
    return _render_system(request, system, library)


@login_required
@require_POST
def attest(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _system(request, slug)
    if not can_attest(request.user, system):
        raise PermissionDenied("only the system's owners and the governance team may attest its controls")
    library = library_or_error(request)
    if isinstance(library, HttpResponse):
        return library
    form = AttestationForm(request.POST, controls=_controls(library))
    if form.is_valid():
        done = run_service(request, form, lambda: attestation_record(
            actor=request.user, system=system, control=form.cleaned_data["control"],
            statement=form.cleaned_data["statement"], evidence_url=form.cleaned_data["evidence_url"],
            expires_at=form.expires_at(), library=library), "Attestation recorded.")
        if done is not None:
            return redirect(f"{request.path.rsplit('attest/', 1)[0]}#attest")
    return _render_system(request, system, library, attest_form=form, status=400)


@login_required
@require_POST
def operator_profile(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    system = _system(request, slug)
    if not can_attest(request.user, system):
        raise PermissionDenied("only the system's owners and the governance team may set its operator role")
    form = OperatorProfileForm(request.POST)
    if form.is_valid():
        done = run_service(request, form, lambda: operator_profile_set(
            actor=request.user, system=system, role=form.cleaned_data["role"],
            gpai_model=form.cleaned_data["gpai_model"], generative=form.cleaned_data["generative"],
            note=form.cleaned_data["note"]), "Operator role saved.")
        if done is not None:
            return redirect(f"{request.path.rsplit('profile/', 1)[0]}#profile")
    library = library_or_error(request)
    if isinstance(library, HttpResponse):
        return library
    return _render_system(request, system, library, profile_form=form, status=400)


@login_required
def coverage_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One framework across every system the reader may see: share of applicable controls met, and a
    systems × control-family table (paged; the totals count every visible system)."""
    if not can_view_coverage(request.user):
        raise PermissionDenied("sign in with an active account")
    library = library_or_error(request)
    if isinstance(library, HttpResponse):
        return library
    framework_id = request.GET.get("framework") or next(iter(library.frameworks))
    if framework_id not in library.frameworks:
        raise Http404("no such framework")
    tier = request.GET.get("tier", "")
    visible = AISystem.objects.visible_to(request.user)
    if tier in RiskTier.values:
        visible = visible.filter(risk_tier=tier)
    else:
        tier = ""
    systems = list(for_facts(visible).order_by("name"))
    result = coverage(framework_id, systems, timezone.now(), library)
    page = Paginator(result.rows, 50).get_page(request.GET.get("page"))
    return render(request, "compliance/coverage.html", {
        "cov": result, "page": page, "frameworks": list(library.frameworks.values()),
        "families": [result.framework.family(f) for f in result.families],
        "tiers": RiskTier.choices, "tier": tier, "can_import": can_import_frameworks(request.user),
    })


CSV_HEADER = ["system", "system_name", "risk_tier", "operator_role", "framework", "control", "reference", "title",
              "family", "applies_from", "applicable", "status", "reason", "evidence"]


@login_required
def coverage_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every control × every visible system of one framework (all frameworks without ``framework``)."""
    if not can_view_coverage(request.user):
        raise PermissionDenied("sign in with an active account")
    library = library_or_error(request)
    if isinstance(library, HttpResponse):
        return library
    wanted = request.GET.get("framework", "")
    if wanted and wanted not in library.frameworks:
        raise Http404("no such framework")
    frameworks = [wanted] if wanted else list(library.frameworks)
    systems = list(for_facts(AISystem.objects.visible_to(request.user)).order_by("name"))
    per_system = compliance_many(systems, timezone.now(), library, frameworks)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="compliance-{wanted or "all"}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for system in systems:
        sc = per_system[system.pk]
        for framework_id in frameworks:
            for r in sc.results[framework_id]:
                c = r.control
                writer.writerow([spreadsheet_cell(v) for v in (
                    system.slug, system.name, system.risk_tier, sc.profile.role, framework_id, c.id, c.ref, c.title,
                    c.family, c.applies_from.isoformat() if c.applies_from else "", "yes" if r.applicable else "no",
                    r.status, r.reason, " | ".join(f"{e.ref}: {e.status}: {e.message}" for e in r.evidence),
                )])
    return response


@login_required
def framework_oscal(request: AuthenticatedHttpRequest, framework_id: str) -> HttpResponse:
    """One framework as an OSCAL catalog (JSON), validated by trestle's OSCAL model on the way out."""
    if not can_export_frameworks(request.user):
        raise PermissionDenied("sign in with an active account")
    library = library_or_error(request)
    if isinstance(library, HttpResponse):
        return library
    framework = library.frameworks.get(framework_id)
    if framework is None:
        raise Http404("no such framework")
    response = HttpResponse(export_json(framework, timezone.now()), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{framework.id}-oscal-catalog.json"'
    return response


@login_required
def framework_import_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upload an OSCAL catalog as an organisation framework (the governance team)."""
    if not can_import_frameworks(request.user):
        raise PermissionDenied("only the governance team may import frameworks")
    form = FrameworkImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            upload = form.cleaned_data["catalog"]
            raw = upload.read(MAX_OSCAL_BYTES + 1)
            data = form.cleaned_data
            done = run_service(request, form, lambda: framework_import(
                actor=request.user, raw=raw, framework_id=data["framework_id"], licence=data["licence"],
                source_url=data["source_url"], source_note=data["note"]),
                f"Imported {data['framework_id']} from {upload.name}.")
            if done is not None:
                return redirect(f"{reverse('compliance-coverage')}?framework={data['framework_id']}")
    return render(request, "compliance/framework_import.html", {"form": form}, status=status)
