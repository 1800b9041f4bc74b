"""What the compliance API answers: frameworks, their controls, and a system's control status. The
objects are the library's frozen dataclasses and the selectors' results; nothing here computes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from compliance.choices import ControlStatus


class FamilySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    title = serializers.CharField()
    function = serializers.CharField(help_text="The framework's function the family belongs to; blank when none.")


class FrameworkSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    source_title = serializers.CharField()
    source_url = serializers.URLField()
    source_note = serializers.CharField()
    licence = serializers.CharField()
    digest = serializers.CharField(help_text="SHA-256 of the framework file.")
    controls = serializers.SerializerMethodField(help_text="How many controls the framework has.")
    families = FamilySerializer(many=True)

    def get_controls(self, obj: Any) -> int:
        return len(obj.controls)


class ApplicabilitySerializer(serializers.Serializer[Any]):
    roles = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                  help_text="Operator roles it binds; null: every role.")
    tiers = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                  help_text="Risk tiers it applies to; null: every tier.")
    gpai = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                 help_text="General-purpose model kinds it applies to; null: any.")
    generative = serializers.BooleanField(allow_null=True, help_text="Only generative (true) or non-generative "
                                                                     "(false) systems; null: both.")


class ControlSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="<framework id>/<control id>")
    framework = serializers.CharField()
    id = serializers.CharField()
    family = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    ref = serializers.CharField(help_text="The source's own reference (article, clause); blank when none.")
    applies = ApplicabilitySerializer()
    applies_from = serializers.DateField(allow_null=True, help_text="Date of application; null: always.")
    date_source = serializers.CharField()
    requirements = serializers.SerializerMethodField(
        help_text="Readiness requirement ids of the active policy that evidence the control.")
    attestation = serializers.SerializerMethodField(help_text="Whether a manual attestation evidences it.")
    related = serializers.SerializerMethodField(help_text="Controls a crosswalk links to this one.")

    def _mapping(self, obj: Any) -> Any:
        return self.context["mapping"](obj.key)

    def get_requirements(self, obj: Any) -> list[str]:
        return list(self._mapping(obj).requirements)

    def get_attestation(self, obj: Any) -> bool:
        return bool(self._mapping(obj).attestation)

    def get_related(self, obj: Any) -> list[str]:
        related: list[str] = self.context["library"].related(obj.key)
        return related


class EvidenceSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=["requirement", "attestation", "policy"])
    ref = serializers.CharField(help_text="The requirement id or the attested control; blank when none yet.")
    status = serializers.CharField()
    message = serializers.CharField()
    fix = serializers.CharField()


class ControlStatusSerializer(serializers.Serializer[Any]):
    control = serializers.CharField(source="control.key", help_text="<framework id>/<control id>")
    framework = serializers.CharField(source="control.framework")
    title = serializers.CharField(source="control.title")
    family = serializers.CharField(source="control.family")
    status = serializers.ChoiceField(choices=ControlStatus.choices)
    reason = serializers.CharField(help_text="Why it applies (or why not).")
    in_force = serializers.BooleanField(help_text="False while its date of application is still ahead.")
    evidence = EvidenceSerializer(many=True)
