"""The register's tables, one module per domain: risks and their acceptances, incidents."""

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
    "Risk",
    "RiskAcceptance",
    "RiskAcceptanceQuerySet",
    "RiskQuerySet",
    "appetite",
    "risk_snapshot",
    "scale",
    "snapshot_fingerprint",
]
