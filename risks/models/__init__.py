"""The register's tables, one module per domain: risks and their acceptances, incidents."""

from risks.models.incidents import Incident, IncidentQuerySet
from risks.models.risks import (
    Risk,
    RiskAcceptance,
    RiskAcceptanceQuerySet,
    RiskQuerySet,
    appetite,
    risk_snapshot,
    scale,
    snapshot_fingerprint,
)

__all__ = [
    "Incident",
    "IncidentQuerySet",
    "Risk",
    "RiskAcceptance",
    "RiskAcceptanceQuerySet",
    "RiskQuerySet",
    "appetite",
    "risk_snapshot",
    "scale",
    "snapshot_fingerprint",
]
