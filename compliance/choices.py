"""Operator roles under the EU AI Act, general-purpose-model status, and compliance statuses."""

from __future__ import annotations

from django.db import models


class OperatorRole(models.TextChoices):
    PROVIDER = "provider", "Provider"
    DEPLOYER = "deployer", "Deployer"
    IMPORTER = "importer", "Importer"
    DISTRIBUTOR = "distributor", "Distributor"


class GpaiModel(models.TextChoices):
    NONE = "none", "No general-purpose AI model provided"
    GPAI = "gpai", "Provides a general-purpose AI model"
    GPAI_SYSTEMIC = "gpai_systemic", "Provides a general-purpose AI model with systemic risk"


GPAI_VALUES = (GpaiModel.GPAI.value, GpaiModel.GPAI_SYSTEMIC.value)


class ControlStatus(models.TextChoices):
    MET = "met", "Met"
    PARTIALLY_MET = "partially_met", "Partially met"
    MISSING = "missing", "Missing"
    STALE = "stale", "Stale"
    FAILED = "failed", "Failed"
    WAIVED = "waived", "Waived"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


# What counts as covered in the share of applicable controls met: met only (waived is shown apart).
COVERED = frozenset({ControlStatus.MET.value})
