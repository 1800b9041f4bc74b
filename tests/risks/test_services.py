"""Risk register writes: validation naming fields by label, nothing half-written, audit, and
acceptances that lapse when what they accepted changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clearance.audit import history_for
from clearance.errors import NotAllowed
from clearance.models import AuditEvent
from risks.choices import AcceptanceStatus
from risks.models import Risk, RiskAcceptance
from risks.services import risk_accept, risk_create, risk_update
from tests.risks.risk_helpers import risk_input


def test_create_is_audited_and_linked(personas: dict[str, Any], risky_system: Any) -> None:
    risk = risk_create(actor=personas["owner"], systems=[risky_system], data=risk_input(personas["owner"]))
    assert list(risk.systems.all()) == [risky_system]
    assert risk.score == 16 and risk.residual_score == 16
    event = history_for(risk).get()
    assert event.action == "risk.create" and event.data["systems"] == ["claims-triage"]


@pytest.mark.parametrize(
    ("overrides", "field", "label"),
    [
        ({"likelihood": 6}, "likelihood", "Likelihood before treatment: must be a whole number from 1 to 5"),
        ({"impact": 0}, "impact", "Impact before treatment: must be a whole number from 1 to 5"),
        ({"category": "9.9"}, "category", "Category: '9.9' is not a subdomain"),
        (
            {
                "treatment": "mitigate",
                "treatment_rationale": "",
                "residual_likelihood": 2,
                "residual_impact": 2,
            },
            "treatment_rationale",
            "Treatment rationale: say in at least 10 characters",
        ),
        ({"residual_likelihood": 2}, "residual_impact", "Impact after treatment: give both"),
        ({"title": "  "}, "title", "Title: this field is required"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    personas: dict[str, Any], risky_system: Any, overrides: dict[str, Any], field: str, label: str
) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        risk_create(
            actor=personas["owner"], systems=[risky_system], data=risk_input(personas["owner"], **overrides)
        )
    assert any(m.startswith(label) for m in info.value.message_dict[field])
    assert not Risk.objects.exists() and AuditEvent.objects.count() == events


def test_scale_follows_settings(personas: dict[str, Any], risky_system: Any, settings: Any) -> None:
    settings.RISK_LIKELIHOOD_LEVELS = 3
    with pytest.raises(ValidationError, match="from 1 to 3"):
        risk_create(actor=personas["owner"], systems=[risky_system], data=risk_input(personas["owner"]))


def test_outsider_and_portfolio_rules(personas: dict[str, Any], risky_system: Any) -> None:
    with pytest.raises(NotAllowed):
        risk_create(actor=personas["outsider"], systems=[risky_system], data=risk_input(personas["owner"]))
    with pytest.raises(NotAllowed):
        risk_create(
            actor=personas["owner"],
            systems=[risky_system],
            data=risk_input(personas["owner"]),
            portfolio_wide=True,
        )
    risk = risk_create(
        actor=personas["lead"],
        systems=[risky_system],
        data=risk_input(personas["owner"]),
        portfolio_wide=True,
    )
    assert risk.portfolio_wide


def _treated(personas: dict[str, Any], system: Any) -> Risk:
    return risk_create(
        actor=personas["owner"],
        systems=[system],
        data=risk_input(
            personas["owner"],
            treatment="mitigate",
            treatment_rationale="Reweight training data by age band",
            residual_likelihood=3,
            residual_impact=3,
            controls=["eval-fairness-age"],
        ),
    )


def test_only_the_systems_risk_owner_accepts(personas: dict[str, Any], risky_system: Any) -> None:
    risk = _treated(personas, risky_system)
    expiry = timezone.now() + timedelta(days=30)
    with pytest.raises(NotAllowed):
        risk_accept(
            actor=personas["owner"],
            risk=risk,
            system=risky_system,
            rationale="Residual is tolerable with the manual check",
            expires_at=expiry,
        )
    with pytest.raises(ValidationError) as info:
        risk_accept(actor=personas["risk"], risk=risk, system=risky_system, rationale="ok", expires_at=expiry)
    assert info.value.message_dict["rationale"][0].startswith("Rationale:")
    assert not RiskAcceptance.objects.exists()
    acceptance = risk_accept(
        actor=personas["risk"],
        risk=risk,
        system=risky_system,
        rationale="Residual is tolerable with the manual check",
        expires_at=expiry,
    )
    assert acceptance.is_current(risk, timezone.now())
    assert acceptance.pinned["residual_likelihood"] == 3
    assert history_for(acceptance).get().action == "risk_acceptance.create"


def test_acceptance_lapses_when_scores_or_treatment_change(
    personas: dict[str, Any], risky_system: Any
) -> None:
    risk = _treated(personas, risky_system)
    acceptance = risk_accept(
        actor=personas["risk"],
        risk=risk,
        system=risky_system,
        rationale="Residual is tolerable with the manual check",
        expires_at=timezone.now() + timedelta(days=30),
    )
    # A change that is not a score or the treatment keeps it.
    data = risk_input(
        personas["owner"],
        treatment="mitigate",
        treatment_rationale="Reweight training data by age band",
        residual_likelihood=3,
        residual_impact=3,
        controls=["eval-fairness-age"],
        description="Seen in the Q3 audit",
    )
    risk = risk_update(actor=personas["owner"], risk=risk, data=data)
    acceptance.refresh_from_db()
    assert acceptance.status == AcceptanceStatus.ACTIVE
    data.residual_impact = 4
    risk = risk_update(actor=personas["owner"], risk=risk, data=data)
    acceptance.refresh_from_db()
    assert acceptance.status == AcceptanceStatus.LAPSED and acceptance.lapsed_at is not None
    assert not acceptance.is_current(risk, timezone.now())
    assert sorted(e.action for e in history_for(acceptance)) == [
        "risk_acceptance.create",
        "risk_acceptance.lapse",
    ]
