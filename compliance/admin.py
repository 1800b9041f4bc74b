from django.contrib import admin

from clearance.admin_base import ReadOnlyAdmin
from compliance.models import Attestation, OperatorProfile


@admin.register(Attestation)
class AttestationAdmin(ReadOnlyAdmin):
    list_display = ["control", "system", "owner", "reviewed_at", "expires_at"]
    search_fields = ["control", "system__slug"]


@admin.register(OperatorProfile)
class OperatorProfileAdmin(ReadOnlyAdmin):
    list_display = ["system", "role", "gpai_model", "generative", "updated_by", "updated_at"]
    list_filter = ["role", "gpai_model"]
