"""``manage.py policy_explain SYSTEM ENVIRONMENT``: alias of ``manage.py policy explain``."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Explain a system's readiness verdict for one environment (alias of `policy explain`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("system")
        parser.add_argument("environment")
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("policy", "explain", options["system"], options["environment"], "--format", options["format"],
                     stdout=self.stdout, stderr=self.stderr)
