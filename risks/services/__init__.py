"""Writes of the register, one module per domain: ``risks`` (risks and acceptances), ``incidents``."""

from risks.services.risks import (
    LABELS,
    MAX_CONTROLS,
    RiskInput,
    acceptances_expire,
    risk_accept,
    risk_create,
    risk_update,
)

__all__ = ["LABELS", "MAX_CONTROLS", "RiskInput", "acceptances_expire", "risk_accept", "risk_create", "risk_update"]
