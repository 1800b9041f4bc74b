from django.contrib import admin

from clearance.admin_base import ReadOnlyAdmin
from risks.models import Risk, RiskAcceptance


@admin.register(Risk)
class RiskAdmin(ReadOnlyAdmin):
    list_display = [
        "title",
        "category",
        "likelihood",
        "impact",
        "residual_likelihood",
        "residual_impact",
        "treatment",
        "review_date",
        "portfolio_wide",
    ]
    list_filter = ["treatment", "portfolio_wide"]


@admin.register(RiskAcceptance)
class RiskAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["risk", "system", "approved_by", "status", "accepted_at", "expires_at"]
    list_filter = ["status"]
