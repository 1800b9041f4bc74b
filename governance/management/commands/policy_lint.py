"""``manage.py policy_lint [FILE]``: load and validate a readiness policy; exit 1 on any error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearance.policyfile import PolicyError
from governance.policy.loader import build_policy, readiness_policy_path


class Command(BaseCommand):
    help = "Validate a readiness policy file (default: the active one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"]) if options["path"] else readiness_policy_path()
        try:
            policy = build_policy(path, path.read_bytes())
        except OSError as exc:
            raise CommandError(f"{path}: cannot be read: {exc.strerror}") from exc
        except PolicyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"{path}: policy '{policy.name}' OK, version {policy.version[:12]}, "
            f"{len(policy.requirements)} requirements, environments: {', '.join(policy.environments)}"
        ))
