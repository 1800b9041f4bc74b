"""``manage.py policy_explain SYSTEM ENVIRONMENT``: the verdict with the facts behind each requirement."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from catalog.models import AISystem
from clearance.policyfile import PolicyError
from governance.policy.engine import UnknownEnvironment, evaluate
from governance.policy.loader import load_readiness_policy
from governance.selectors import collect_facts


class Command(BaseCommand):
    help = "Explain a system's readiness verdict for one environment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("system")
        parser.add_argument("environment")

    def handle(self, *args: Any, **options: Any) -> None:
        system = AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").filter(
            slug=options["system"]).first()
        if system is None:
            raise CommandError(f"no system {options['system']!r}")
        try:
            policy = load_readiness_policy()
            result = evaluate(policy, options["environment"], collect_facts(system), timezone.now())
        except PolicyError as exc:
            raise CommandError(f"policy failed to load (every gate blocks): {exc}") from exc
        except UnknownEnvironment as exc:
            raise CommandError(f"unknown environment {exc}; known: {', '.join(policy.environments)}") from exc
        self.stdout.write(f"{system.slug} / {options['environment']}: {result.verdict.upper()} "
                          f"(policy {policy.name} {policy.version[:12]})")
        for req in result.requirements:
            self.stdout.write(f"  [{req.status}] {req.id}: {req.message}")
            if req.fix:
                self.stdout.write(f"      fix: {req.fix}")
            self.stdout.write(f"      facts: {json.dumps(req.evidence, default=str)}")
        for skipped in result.not_applicable:
            self.stdout.write(f"  [n/a] {skipped['id']}: {skipped['reason']}")
