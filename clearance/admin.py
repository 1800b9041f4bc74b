from django.contrib import admin

from clearance.admin_base import ReadOnlyAdmin
from clearance.models import ApiToken, AuditEvent, Notification, OutboxMessage


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "occurred_at", "actor_repr", "action", "object_type", "object_repr", "key_id"]
    list_filter = ["action"]
    search_fields = ["object_repr", "actor_repr", "action"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "task_name", "created_at", "dispatched_at", "attempts", "completed_at", "due_at",
                    "last_error"]
    list_filter = ["task_name", ("completed_at", admin.EmptyFieldListFilter)]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "subject", "created_at", "email_status", "lease_until"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "key_id", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]
    exclude = ["digest"]
