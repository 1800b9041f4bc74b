"""The audit trail page and its CSV export: the same filters and the same visibility rules for both."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.models import AISystem
from clearance.audit import verify_chain
from clearance.checkpoints import verify_checkpoints
from clearance.models import AuditEvent
from clearance.permissions import can_read_audit
from clearance.templatetags.clearance_tags import action_words
from clearance.web import AuthenticatedHttpRequest, paginate, spreadsheet_cell
from governance.forms import AuditFilterForm
from governance.selectors.audit import Viewer, object_links, object_type_label

PER_PAGE = 50
CSV_CHUNK = 500
CSV_HEADER = ["seq", "occurred_at", "actor", "action", "action_words", "object_type", "object_id", "object",
              "object_url", "hash"]


def _refuse_unless_reader(request: AuthenticatedHttpRequest) -> None:
    if not can_read_audit(request.user):
        raise PermissionDenied("the audit trail is for the governance team and auditors")


def _filter_form(request: AuthenticatedHttpRequest) -> AuditFilterForm:
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    types = AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
    return AuditFilterForm(
        request.GET or None,
        actions=[(a, action_words(a)) for a in actions],
        object_types=sorted(((t, object_type_label(t)) for t in types), key=lambda c: c[1]),
    )


def filtered_events(form: AuditFilterForm) -> QuerySet[AuditEvent]:
    """The events the form asks for, newest first (all of them unbound); none for an invalid form, whose
    page says which field is wrong rather than showing a wider list than was asked for."""
    qs = AuditEvent.objects.select_related("actor").order_by("-seq")
    if form.is_bound and not form.is_valid():
        return qs.none()
    data: dict[str, Any] = form.cleaned_data if form.is_bound else {}
    if actor := (data.get("actor") or "").strip():
        qs = qs.filter(Q(actor_repr__iexact=actor) | Q(actor__first_name__iexact=actor)
                       | Q(actor__last_name__iexact=actor))
    if action := data.get("action"):
        qs = qs.filter(action=action)
    if object_type := data.get("object_type"):
        qs = qs.filter(object_type=object_type)
        if wanted := data.get("object"):
            if object_type == "catalog.aisystem" and not wanted.isdigit():
                # A system is also known by its slug; a slug no system has matches no event.
                pk = AISystem.objects.filter(slug=wanted).values_list("pk", flat=True).first()
                wanted = str(pk) if pk is not None else ""
            qs = qs.filter(object_id=wanted) if wanted else qs.none()
    if start := data.get("date_from"):
        qs = qs.filter(occurred_at__date__gte=start)
    if end := data.get("date_to"):
        qs = qs.filter(occurred_at__date__lte=end)
    return qs


def _verification(request: AuthenticatedHttpRequest) -> tuple[Any, Any]:
    if not request.GET.get("verify"):
        return None, None
    report = verify_chain()
    # The table alone cannot show a cut tail: compare it with the signed checkpoints too.
    return report, verify_checkpoints() if report.ok else None


@login_required
def audit_trail(request: AuthenticatedHttpRequest) -> HttpResponse:
    _refuse_unless_reader(request)
    form = _filter_form(request)
    page = paginate(request, filtered_events(form), PER_PAGE)
    links = object_links(request.user, page.object_list)
    rows = [(e, links.get(e.pk)) for e in page.object_list]
    report, anchors = _verification(request)
    export_query = request.GET.copy()
    for key in ("page", "verify"):
        export_query.pop(key, None)
    return render(request, "governance/audit.html", {
        "page": page, "rows": rows, "form": form, "report": report, "anchors": anchors,
        "export_query": export_query.urlencode(),
    })


class _Echo:
    """A file-like object whose ``write`` hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(viewer: Viewer, events: QuerySet[AuditEvent], base_url: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    stream = events.iterator(chunk_size=CSV_CHUNK)
    while chunk := list(islice(stream, CSV_CHUNK)):
        links = object_links(viewer, chunk)
        for e in chunk:
            url = links.get(e.pk)
            yield writer.writerow([spreadsheet_cell(str(v)) for v in (
                e.seq, timezone.localtime(e.occurred_at).isoformat(), e.actor_repr, e.action, action_words(e.action),
                e.object_type, e.object_id, e.object_repr, base_url + url if url else "", e.hash,
            )])


@login_required
def audit_trail_csv(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered trail as CSV, streamed in chunks so a long trail is never held in memory; a link goes
    only to an object the viewer may open, as on the page."""
    _refuse_unless_reader(request)
    form = _filter_form(request)
    if form.is_bound and not form.is_valid():
        # The export never widens a filter it could not read: the page shows what is wrong.
        return render(request, "governance/audit.html", {
            "page": paginate(request, AuditEvent.objects.none(), PER_PAGE), "rows": [], "form": form,
            "report": None, "anchors": None, "export_query": "",
        }, status=400)
    events = filtered_events(form)
    stream = StreamingHttpResponse(_csv_lines(request.user, events, request.build_absolute_uri("/")[:-1]),
                                   content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    stream["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return stream
