from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from catalog.services.systems import system_create
from risks.services import RiskInput


@pytest.fixture
def risky_system(personas: dict[str, Any]) -> Any:
    """A high-tier system owned by ``owner``, with ``risk`` as its risk owner (appetite 6 by default)."""
    return system_create(
        actor=personas["lead"],
        name="Claims triage",
        purpose="Route insurance claims",
        risk_tier="high",
        technical_owner=personas["owner"],
        risk_owner=personas["risk"],
    )


def risk_input(owner: Any, **overrides: Any) -> RiskInput:
    base: dict[str, Any] = {
        "title": "Unequal accuracy for older claimants",
        "category": "1.3",
        "owner": owner,
        "likelihood": 4,
        "impact": 4,
        "review_date": (timezone.now() + timedelta(days=90)).date(),
        "cause": "Training data under-represents claimants over 70",
        "consequence": "Legitimate claims delayed",
    }
    base.update(overrides)
    return RiskInput(**base)
