"""Catalog models, one module per domain; importing them here registers them with the app."""

from catalog.models.cards import ModelCard
from catalog.models.evidence import (
    CostBudget,
    CostRecord,
    EvalResult,
    EvidenceSource,
    MetricRequirement,
    StagedCost,
    StagedEval,
    SyncRun,
)
from catalog.models.registers import Dataset, Vendor
from catalog.models.systems import AISystem

__all__ = [
    "AISystem",
    "CostBudget",
    "CostRecord",
    "Dataset",
    "EvalResult",
    "EvidenceSource",
    "MetricRequirement",
    "ModelCard",
    "StagedCost",
    "StagedEval",
    "SyncRun",
    "Vendor",
]
