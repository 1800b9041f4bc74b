"""Evidence connectors: one small class per source kind behind one interface (fetch → records)."""

from __future__ import annotations

from catalog.connectors.base import (
    Connector,
    CostRow,
    EvalRecord,
    Ignored,
    LocationRefused,
    RowError,
    SourceConfig,
    SourceError,
    SourceUnavailable,
)
from catalog.connectors.focus import FocusConnector
from catalog.connectors.lm_eval import LmEvalConnector
from catalog.connectors.mlflow import MlflowConnector
from catalog.connectors.openai_costs import OpenAICostsConnector
from catalog.connectors.promptfoo import PromptfooConnector

CONNECTORS: dict[str, type[Connector]] = {
    c.kind: c for c in (MlflowConnector, LmEvalConnector, PromptfooConnector, FocusConnector, OpenAICostsConnector)
}

__all__ = [
    "CONNECTORS", "Connector", "CostRow", "EvalRecord", "Ignored", "LocationRefused", "RowError", "SourceConfig",
    "SourceError", "SourceUnavailable",
]
