from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from catalog.models import AISystem
from clearance.api import ErrorDetailSerializer, ErrorSerializer, OptionalURLField  # noqa: F401 - shared shapes
from governance.choices import REVIEW_DECISIONS
from governance.models import GateCheck, Review


class ReviewSerializer(serializers.ModelSerializer[Review]):
    assignee = serializers.SlugRelatedField[User](slug_field="username", read_only=True, allow_null=True,
                                            help_text="Username; null while nobody has claimed it.")
    decided_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True, allow_null=True,
                                              help_text="Username; null while it is open.")
    system = serializers.SlugRelatedField[AISystem](slug_field="slug", read_only=True, allow_null=True,
                                          help_text="The system under review; null for a review of a request.")

    class Meta:
        model = Review
        fields = [
            "id", "kind", "request", "system", "status", "assignee", "opened_at", "due_at", "decided_by",
            "decided_at", "rationale", "conditions", "expires_at",
        ]
        read_only_fields = fields


class ReviewDecisionSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=[str(d) for d in REVIEW_DECISIONS])
    rationale = serializers.CharField(max_length=10000, trim_whitespace=True)
    conditions = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class GateCheckRequestSerializer(serializers.Serializer[Any]):
    system = serializers.SlugField(max_length=80)
    environment = serializers.RegexField(r"^[a-z][a-z0-9-]*$", max_length=50)
    version = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    commit = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    pipeline_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    attestation = serializers.BooleanField(
        required=False, default=False,
        help_text="Also answer a signed attestation of this verdict (a DSSE envelope holding an in-toto "
                  "statement, see docs/attestations.md); `?attestation=1` on the URL does the same.")

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        value: dict[str, Any] = super().to_internal_value(data)
        return value


class GateRequirementSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["met", "missing", "failed", "stale", "waived"])
    message = serializers.CharField()
    fix = serializers.CharField(allow_blank=True)
    evidence = serializers.DictField()
    since = serializers.DateTimeField(allow_null=True, help_text="Since when it has been unmet (null when met).")
    fix_url = serializers.URLField(allow_null=True, help_text="The page where an unmet requirement is fixed.")


class GatePolicySerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.CharField()


class DsseSignatureSerializer(serializers.Serializer[Any]):
    keyid = serializers.CharField(help_text="The signing key's id, as listed in the published gate keys.")
    sig = serializers.CharField(help_text="Base64 Ed25519 signature over the DSSE pre-authentication encoding.")


class DsseEnvelopeSerializer(serializers.Serializer[Any]):
    payloadType = serializers.CharField(help_text="Always application/vnd.in-toto+json.")  # noqa: N815 - wire name
    payload = serializers.CharField(help_text="Base64 of the in-toto statement (canonical JSON).")
    signatures = DsseSignatureSerializer(many=True)


class GateCheckResponseSerializer(serializers.Serializer[Any]):
    """The gate contract (DESIGN.md): the same shape for pass and block."""

    id = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=["pass", "block"])
    system = serializers.CharField()
    environment = serializers.CharField()
    policy = GatePolicySerializer()
    checked_at = serializers.DateTimeField()
    requirements = GateRequirementSerializer(many=True)
    url = serializers.URLField()
    warnings = serializers.ListField(child=serializers.CharField(),
                                     help_text="E.g. the policy file does not load and the last good one decided.")
    attestation = DsseEnvelopeSerializer(
        required=False,
        help_text="Only when asked for (`attestation: true` or `?attestation=1`): this answer as an in-toto "
                  "statement in a DSSE envelope signed with the server's Ed25519 key. Verify it against "
                  "/.well-known/clearance/gate-keys.json (docs/attestations.md).")


class GateCheckSerializer(serializers.ModelSerializer[GateCheck]):
    system = serializers.SlugRelatedField[AISystem](slug_field="slug", read_only=True)
    user = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    pipeline_url = OptionalURLField()

    class Meta:
        model = GateCheck
        fields = [
            "id", "system", "environment", "version", "commit", "pipeline_url", "verdict", "policy_name",
            "policy_version", "user", "checked_at", "duration_ms",
        ]
        read_only_fields = fields
