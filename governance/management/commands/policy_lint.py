"""``manage.py policy_lint [FILE ...]``: alias of ``manage.py policy lint`` (kept for CI scripts)."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Validate policy files (alias of `policy lint`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("policy", "lint", *options["paths"], stdout=self.stdout, stderr=self.stderr)
