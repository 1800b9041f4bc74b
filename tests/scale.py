"""The demo portfolio multiplied: ``multiply_demo(10)`` after ``seed_demo()`` leaves ten times the
demo's systems, requests, reviews, stored verdicts, gate calls, costs, budgets, timeline entries and
notifications, each copy tied to its own copies (a copied review reviews the copied request of the
copied system) and to the same people, so every persona has ten times as much on their pages.

The copies are bulk-inserted, not made through the services: the tests that use this measure the
read side (query counts and render times), and thousands of audited writes would only measure the
seeding."""

from __future__ import annotations

import copy
from typing import Any

from django.db import models

from catalog.models import AISystem, CostBudget, CostRecord
from clearance.models import Notification
from governance.models import FactsVersion, GateCheck, ReadinessVerdict, Review
from intake.models import TimelineEntry, UseCaseRequest


def _clones(rows: list[Any], **changes: Any) -> list[Any]:
    out = []
    for row in rows:
        clone = copy.copy(row)
        clone.pk = None
        clone.id = None
        clone._state = models.base.ModelState()
        for name, fn in changes.items():
            setattr(clone, name, fn(row))
        out.append(clone)
    return out


def multiply_demo(times: int) -> None:
    originals = {
        "systems": list(AISystem.objects.order_by("pk")),
        "requests": list(UseCaseRequest.objects.order_by("pk")),
        "reviews": list(Review.objects.order_by("pk")),
        "verdicts": list(ReadinessVerdict.objects.order_by("pk")),
        "facts": list(FactsVersion.objects.all()),
        "checks": list(GateCheck.objects.order_by("pk")),
        "costs": list(CostRecord.objects.order_by("pk")),
        "budgets": list(CostBudget.objects.order_by("pk")),
        "entries": list(TimelineEntry.objects.order_by("pk")),
        "notes": list(Notification.objects.order_by("pk")),
    }
    for k in range(1, times):
        _copy_once(k, originals)


def _copy_once(k: int, o: dict[str, list[Any]]) -> None:
    systems, requests = o["systems"], o["requests"]
    new_systems = AISystem.objects.bulk_create(_clones(systems, slug=lambda s: f"{s.slug}-copy{k}",
                                                       name=lambda s: f"{s.name} (copy {k})"))
    sys_map = {old.pk: new.pk for old, new in zip(systems, new_systems, strict=True)}
    new_requests = UseCaseRequest.objects.bulk_create(_clones(
        requests, system_id=lambda r: sys_map.get(r.system_id) if r.system_id else None))
    req_map = {old.pk: new.pk for old, new in zip(requests, new_requests, strict=True)}
    Review.objects.bulk_create(_clones(
        o["reviews"], request_id=lambda r: req_map.get(r.request_id) if r.request_id else None,
        system_id=lambda r: sys_map.get(r.system_id) if r.system_id else None))
    ReadinessVerdict.objects.bulk_create(_clones(o["verdicts"], system_id=lambda v: sys_map[v.system_id]))
    FactsVersion.objects.bulk_create([FactsVersion(system_id=sys_map[f.system_id], version=f.version)
                                      for f in o["facts"]])
    GateCheck.objects.bulk_create(_clones(o["checks"], system_id=lambda c: sys_map[c.system_id]))
    CostRecord.objects.bulk_create(_clones(o["costs"], system_id=lambda c: sys_map[c.system_id],
                                           source_row_id=lambda c: f"{c.source_row_id}:copy{k}"))
    CostBudget.objects.bulk_create(_clones(o["budgets"], system_id=lambda b: sys_map[b.system_id]))
    TimelineEntry.objects.bulk_create(_clones(o["entries"], request_id=lambda e: req_map[e.request_id]))
    Notification.objects.bulk_create(_clones(o["notes"]))
