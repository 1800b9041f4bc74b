"""The ownership-gaps report: who is missing, who has left, what is overdue for review.

Apps that build on catalog add their own rows without catalog importing them: each registers a
contributor (``register_gaps_contributor``, from its ``AppConfig.ready``) that adds to the report in a
fixed number of queries. The risk register adds its risks past their review date this way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Max, Q, QuerySet

from catalog.choices import LifecycleStage
from catalog.models import AISystem, Dataset, ModelCard, Vendor


@dataclass
class GapsReport:
    without_risk_owner: list[AISystem] = field(default_factory=list)
    inactive_owners: list[tuple[AISystem, str, Any]] = field(default_factory=list)
    inactive_document_owners: list[tuple[str, Any, Any]] = field(default_factory=list)
    overdue: list[tuple[str, Any, date, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (len(self.without_risk_owner) + len(self.inactive_owners) + len(self.inactive_document_owners)
                + len(self.overdue))


# (user, the pks of the live systems the user sees, today, the report to add to)
GapsContributor = Callable[[User | AnonymousUser, "QuerySet[Any]", date, GapsReport], None]
_contributors: list[GapsContributor] = []


def register_gaps_contributor(contributor: GapsContributor) -> None:
    """Add rows to every ownership-gaps report (idempotent: ``ready`` may run more than once)."""
    if contributor not in _contributors:
        _contributors.append(contributor)


ROLES = (("business_owner", "Business owner"), ("technical_owner", "Technical owner"), ("risk_owner", "Risk owner"))


def ownership_gaps(user: User | AnonymousUser, today: date) -> GapsReport:
    """Live systems only (retired ones need no owner); a fixed number of queries."""
    report = GapsReport()
    systems = (AISystem.objects.visible_to(user).exclude(lifecycle_stage=LifecycleStage.RETIRED)
               .select_related("business_owner", "technical_owner", "risk_owner").order_by("name"))
    for system in systems:
        if system.risk_owner_id is None:
            report.without_risk_owner.append(system)
        for attr, label in ROLES:
            person = getattr(system, attr)
            if person is not None and not person.is_active:
                report.inactive_owners.append((system, label, person))
    visible = systems.values("pk")
    latest = (ModelCard.objects.filter(system__in=visible).values("system").annotate(v=Max("version")))
    latest_q = Q()
    for row in latest:
        latest_q |= Q(system_id=row["system"], version=row["v"])
    if latest:
        for card in ModelCard.objects.filter(latest_q, review_due__lt=today).select_related("system"):
            if card.review_due is not None:  # always, by the filter; says so to the type checker
                report.overdue.append(("Model card", card, card.review_due, card.get_absolute_url()))
    datasets = Dataset.objects.visible_to(user).select_related("owner")
    vendors = Vendor.objects.visible_to(user).select_related("owner")
    for label, qs in (("Dataset", datasets), ("Vendor", vendors)):
        for obj in qs.filter(Q(review_due__lt=today) | Q(owner__is_active=False)):
            if obj.review_due and obj.review_due < today:
                report.overdue.append((label, obj, obj.review_due, obj.get_absolute_url()))
            if obj.owner is not None and not obj.owner.is_active:
                report.inactive_document_owners.append((label, obj, obj.owner))
    for contributor in _contributors:
        contributor(user, visible, today, report)
    report.overdue.sort(key=lambda row: row[2])
    return report
