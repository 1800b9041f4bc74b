"""Choices owned by the catalog; intake and governance import them (never the other way)."""

from django.db import models


class RiskTier(models.TextChoices):
    PROHIBITED = "prohibited", "Prohibited"
    HIGH = "high", "High"
    LIMITED = "limited", "Limited"
    MINIMAL = "minimal", "Minimal"


class LifecycleStage(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    IN_DEVELOPMENT = "in_development", "In development"
    PILOT = "pilot", "Pilot"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


LIFECYCLE_TRANSITIONS: dict[str, frozenset[str]] = {
    LifecycleStage.PROPOSED: frozenset({LifecycleStage.IN_DEVELOPMENT, LifecycleStage.RETIRED}),
    LifecycleStage.IN_DEVELOPMENT: frozenset({LifecycleStage.PILOT, LifecycleStage.RETIRED}),
    LifecycleStage.PILOT: frozenset({LifecycleStage.PRODUCTION, LifecycleStage.IN_DEVELOPMENT, LifecycleStage.RETIRED}),
    LifecycleStage.PRODUCTION: frozenset({LifecycleStage.RETIRED}),
    LifecycleStage.RETIRED: frozenset(),
}


class DataCategory(models.TextChoices):
    PERSONAL = "personal", "Personal data"
    SPECIAL_CATEGORY = "special_category", "Special-category personal data"
    CONFIDENTIAL = "confidential", "Confidential business data"
    PUBLIC = "public", "Public data only"


# The categories that make a system "process personal data" (tiering, policy conditions, reviews).
PERSONAL_DATA = frozenset({DataCategory.PERSONAL.value, DataCategory.SPECIAL_CATEGORY.value})


class ModelCardStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


# --- Evidence pipeline: where evaluation and cost evidence comes from, and each pull's state -------
class SourceKind(models.TextChoices):
    MLFLOW = "mlflow", "MLflow tracking server"
    LM_EVAL = "lm_eval", "lm-evaluation-harness results JSON"
    PROMPTFOO = "promptfoo", "promptfoo output JSON"
    FOCUS = "focus", "FOCUS cost CSV"
    OPENAI_COSTS = "openai_costs", "OpenAI organisation costs JSON"


EVAL_KINDS = frozenset({SourceKind.MLFLOW, SourceKind.LM_EVAL, SourceKind.PROMPTFOO})
COST_KINDS = frozenset({SourceKind.FOCUS, SourceKind.OPENAI_COSTS})


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SyncTrigger(models.TextChoices):
    MANUAL = "manual", "Sync now"
    SCHEDULE = "schedule", "Schedule"
    RETRY = "retry", "Retry of an interrupted run"


# --- Catalog documents: model card templates and formats, datasheets, vendors ----------------------
class CardTemplate(models.TextChoices):
    LLM_RAG = "llm_rag", "LLM / RAG assistant"
    CLASSIFIER = "classifier", "Classifier"
    AGENT = "agent", "Agent with tools"


class CardSourceFormat(models.TextChoices):
    HUGGING_FACE = "huggingface", "Hugging Face model card"
    MODEL_CARD_TOOLKIT = "model_card_toolkit", "Model Card Toolkit JSON"


class DataClassification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class DpaStatus(models.TextChoices):
    NOT_REQUIRED = "not_required", "Not required"
    MISSING = "missing", "Missing"
    REQUESTED = "requested", "Requested"
    SIGNED = "signed", "Signed"
