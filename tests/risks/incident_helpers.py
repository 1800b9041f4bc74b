from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from risks.services.incidents import IncidentInput, incident_open


def incident_input(**overrides: Any) -> IncidentInput:
    now = timezone.now()
    base: dict[str, Any] = {
        "title": "Claims from one postcode all routed to fraud review",
        "description": "Since the 1.4 model went live every claim from one postcode is flagged.",
        "severity": "high",
        "detected_at": now - timedelta(hours=3),
        "aware_at": now - timedelta(hours=2),
        "started_at": now - timedelta(days=1),
        "harm_categories": ["discrimination"],
        "people_affected": 40,
        "serious_facts": [],
        "model_version": "1.4",
    }
    base.update(overrides)
    return IncidentInput(**base)


def open_incident(actor: Any, system: Any, **overrides: Any) -> Any:
    return incident_open(actor=actor, systems=[system], data=incident_input(**overrides))
