from django.contrib import admin

from catalog.models import AISystem, CostRecord, EvalResult, ModelCard
from clearance.admin_base import ReadOnlyAdmin


@admin.register(AISystem)
class AISystemAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "lifecycle_stage", "risk_tier", "business_owner", "technical_owner", "risk_owner"]
    list_filter = ["lifecycle_stage", "risk_tier"]
    search_fields = ["slug", "name"]


@admin.register(ModelCard)
class ModelCardAdmin(ReadOnlyAdmin):
    list_display = ["system", "version", "status", "published_at"]
    list_filter = ["status"]


@admin.register(EvalResult)
class EvalResultAdmin(ReadOnlyAdmin):
    list_display = ["system", "metric", "value", "model_version", "observed_at", "source"]
    list_filter = ["metric"]


@admin.register(CostRecord)
class CostRecordAdmin(ReadOnlyAdmin):
    list_display = ["system", "period_start", "period_end", "effective_cost", "currency", "source"]
