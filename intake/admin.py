from django.contrib import admin

from clearance.admin_base import ReadOnlyAdmin
from intake.models import UseCaseRequest


@admin.register(UseCaseRequest)
class UseCaseRequestAdmin(ReadOnlyAdmin):
    list_display = ["title", "requester", "status", "suggested_tier", "risk_tier", "created_at"]
    list_filter = ["status", "risk_tier"]
    search_fields = ["title"]
