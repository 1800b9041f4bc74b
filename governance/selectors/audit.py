"""The audit trail as its readers use it: filtered, each event linked to its object where the viewer may
open that object, and the same rows for the page and the CSV export."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model, QuerySet
from django.urls import reverse

from catalog.models import AISystem, Dataset, EvalResult, EvidenceSource, ModelCard, SyncRun, Vendor
from catalog.permissions import (
    of_visible_systems,
    visible_datasets,
    visible_evidence_sources,
    visible_sync_runs,
    visible_systems,
    visible_vendors,
)
from clearance.models import AuditEvent
from governance.models import DecisionRecord, Review
from governance.permissions import visible_decision_records, visible_reviews
from intake.models import UseCaseRequest
from intake.permissions import visible_requests

Viewer = User | AnonymousUser | None


@dataclass(frozen=True)
class Linkable:
    """A kind of audited object that has a page, with the rule that says who may open it."""

    label: str
    model: type[Model]
    visible: Callable[[Viewer, QuerySet[Any]], QuerySet[Any]]
    related: tuple[str, ...] = ()
    # Where to send the reader; the object's own page unless it has none but lives on another one.
    url: Callable[[Any], str] = lambda obj: str(obj.get_absolute_url())


# Keyed by the ``object_type`` the chain stores (the model's ``app_label.modelname``). A kind not listed
# here has no page a reader could open (or only an editing page), so its events stay plain text.
LINKABLE: dict[str, Linkable] = {
    "catalog.aisystem": Linkable("System", AISystem, visible_systems),
    "intake.usecaserequest": Linkable("Request", UseCaseRequest, visible_requests),
    "governance.review": Linkable("Review", Review, visible_reviews),
    "governance.decisionrecord": Linkable("Decision record", DecisionRecord, visible_decision_records),
    "catalog.modelcard": Linkable("Model card", ModelCard, lambda u, qs: of_visible_systems(u, qs), ("system",)),
    "catalog.evidencesource": Linkable("Evidence source", EvidenceSource, visible_evidence_sources),
    "catalog.syncrun": Linkable("Evidence sync", SyncRun, visible_sync_runs),
    "catalog.dataset": Linkable("Dataset", Dataset, visible_datasets),
    "catalog.vendor": Linkable("Vendor", Vendor, visible_vendors),
    # An evaluation result has no page of its own: it is listed on its system's evidence page.
    "catalog.evalresult": Linkable("Evaluation result", EvalResult, lambda u, qs: of_visible_systems(u, qs),
                                   ("system",), lambda r: reverse("system-evidence", kwargs={"slug": r.system.slug})),
}


def object_type_label(object_type: str) -> str:
    known = LINKABLE.get(object_type)
    if known is not None:
        return known.label
    name = object_type.rpartition(".")[2].replace("_", " ")
    return name[:1].upper() + name[1:]


def object_links(viewer: Viewer, events: Iterable[AuditEvent]) -> dict[int, str]:
    """The URL of each event's object, by event pk, for the objects this viewer may open.

    One query per kind of object present (never per event); a deleted object or one the viewer may not
    open has no entry, so the page shows its recorded name as plain text instead of a dead link."""
    wanted: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        if event.object_type in LINKABLE and event.object_id.isdigit():
            wanted[event.object_type][event.object_id].append(event.pk)
    links: dict[int, str] = {}
    for object_type, by_id in wanted.items():
        kind = LINKABLE[object_type]
        base = kind.model._default_manager.all()
        if kind.related:
            base = base.select_related(*kind.related)
        for obj in kind.visible(viewer, base).filter(pk__in=[int(i) for i in by_id]):
            url = kind.url(obj)
            for event_pk in by_id[str(obj.pk)]:
                links[event_pk] = url
    return links
