from django.contrib import admin

from clearance.admin_base import ReadOnlyAdmin
from governance.models import DecisionRecord, GateCheck, ReadinessVerdict, Review


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["kind", "request", "system", "status", "assignee", "due_at", "decided_at", "expires_at"]
    list_filter = ["kind", "status"]


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ReadOnlyAdmin):
    list_display = ["title", "system", "status", "created_at", "decided_at"]
    list_filter = ["status"]


@admin.register(ReadinessVerdict)
class ReadinessVerdictAdmin(ReadOnlyAdmin):
    list_display = ["system", "environment", "verdict", "computed_at", "valid_until"]
    list_filter = ["environment", "verdict"]


@admin.register(GateCheck)
class GateCheckAdmin(ReadOnlyAdmin):
    list_display = ["system", "environment", "verdict", "user", "commit", "checked_at", "duration_ms"]
    list_filter = ["environment", "verdict"]
