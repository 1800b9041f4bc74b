"""Reads of decision records."""

from __future__ import annotations

from governance.choices import (
    DecisionStatus,
)
from governance.models import DecisionRecord


def decision_chain(record: DecisionRecord) -> list[DecisionRecord]:
    """The supersession chain through ``record``, oldest first (every record it replaced and every
    accepted record that replaced it)."""
    chain = [record]
    seen = {record.pk}
    current = record
    while current.supersedes_id and current.supersedes_id not in seen:
        current = DecisionRecord.objects.select_related("created_by").get(pk=current.supersedes_id)
        seen.add(current.pk)
        chain.insert(0, current)
    current = record
    while True:
        nxt = (DecisionRecord.objects.filter(supersedes=current, status__in=[DecisionStatus.ACCEPTED,
                                                                              DecisionStatus.SUPERSEDED])
               .exclude(pk__in=seen).select_related("created_by").first())
        if nxt is None:
            break
        seen.add(nxt.pk)
        chain.append(nxt)
        current = nxt
    return chain
