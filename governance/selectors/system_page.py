"""What the system page and the dossier read about one system, in a bounded number of queries."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from catalog.models import AISystem, EvalResult, ModelCard
from clearance.models import AuditEvent
from governance.models import DecisionRecord, Review


def system_timeline(system: AISystem) -> QuerySet[AuditEvent]:
    """Every audit event about the system and its documents, reviews and evidence (newest first).

    Five id lists, then one query over the audit table; evidence contributes its newest 200 rows."""
    def ids(qs: QuerySet[Any]) -> list[str]:
        return [str(pk) for pk in qs.values_list("pk", flat=True)]

    related = [
        (AISystem, [str(system.pk)]),
        (ModelCard, ids(ModelCard.objects.filter(system=system))),
        (DecisionRecord, ids(DecisionRecord.objects.filter(system=system))),
        (Review, ids(Review.objects.filter(system=system))),
    ]
    condition = Q()
    for model, pks in related:
        if pks:
            condition |= Q(object_type=model._meta.label_lower, object_id__in=pks)
    # Evidence is many rows: its events are reached through their type and the system's results.
    recent = ids(EvalResult.objects.filter(system=system).order_by("-pk")[:200])
    if recent:
        condition |= Q(object_type=EvalResult._meta.label_lower, object_id__in=recent)
    return AuditEvent.objects.filter(condition).order_by("-seq")


def system_page_context(system: AISystem, user: User | AnonymousUser) -> dict[str, Any]:
    """The catalog's part of the system page: documents, registers, exports, timeline.

    Every list is sliced and joined up front, so the page costs the same number of queries with 50
    card versions, 100 decisions and 10,000 evidence rows as with one of each."""
    from catalog.models import Dataset, Vendor
    from governance.models import DocumentExport

    cards = list(system.model_cards.select_related("published_by").order_by("-version")
                 .only("pk", "system_id", "version", "status", "published_at", "published_by", "review_due",
                       "source_format", "template")[:10])
    card_count = system.model_cards.count()
    decisions = list(system.decision_records.select_related("created_by", "supersedes")
                     .only("pk", "system_id", "title", "decision", "status", "created_at", "decided_at",
                           "supersedes_id", "supersedes__title", "supersedes__status", "created_by__username",
                           "created_by__first_name", "created_by__last_name")
                     .order_by("-created_at", "-pk")[:20])
    decision_count = system.decision_records.count()
    return {
        "cards": cards,
        "card_count": card_count,
        "decisions": decisions,
        "decision_count": decision_count,
        "datasets": list(Dataset.objects.filter(systems=system).select_related("owner").order_by("name")[:20]),
        "vendors": list(Vendor.objects.filter(systems=system).order_by("name")[:10]),
        "exports": list(DocumentExport.objects.filter(system=system).select_related("requested_by")
                        .order_by("-created_at", "-pk")[:5]),
        "history": list(system_timeline(system).select_related("actor")[:50]),
    }
