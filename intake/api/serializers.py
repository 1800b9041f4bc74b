from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework import serializers

from catalog.choices import RiskTier
from catalog.models import AISystem
from intake.models import UseCaseRequest


class UseCaseRequestSerializer(serializers.ModelSerializer[UseCaseRequest]):
    requester = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    system = serializers.SlugRelatedField[AISystem](slug_field="slug", read_only=True, allow_null=True,
                                          help_text="The catalog system made from it; null until triage creates one.")
    reference = serializers.CharField(read_only=True)
    # Blank until the answers suggest a tier / until triage sets one.
    suggested_tier = serializers.ChoiceField(choices=RiskTier.choices, allow_blank=True, read_only=True)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, allow_blank=True, read_only=True)

    class Meta:
        model = UseCaseRequest
        fields = [
            "id", "reference", "title", "problem", "business_outcome", "why_ai", "alternatives_considered",
            "users_affected", "customer_facing", "human_in_the_loop", "fallback", "data_categories",
            "annex_iii_area", "prohibited_practices", "interacts_with_people", "generates_synthetic_content",
            "vendor_model", "expected_volume", "requester", "status", "suggested_tier", "tier_reasons",
            "risk_tier", "system", "created_at", "submitted_at", "decided_at",
        ]
        read_only_fields = fields
