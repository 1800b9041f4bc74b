"""``manage.py framework_lint [DIR]``: validate the compliance framework library.

Every framework, mapping and crosswalk file under DIR (default FRAMEWORK_DIR) is checked: schema,
duplicate ids, unknown families and controls, and mappings to requirement ids the readiness policy
file they name (found in POLICY_DIR) does not have. One ``FILE:LINE: message`` per problem; exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearance.policyfile import PolicyError
from compliance.loader import LibraryError, PolicyIds, framework_dir, load_library
from governance.policy.loader import build_policy


def policies_on_disk() -> PolicyIds:
    """Each readiness policy file in POLICY_DIR that loads: its name and requirement ids."""
    found: PolicyIds = {}
    for path in sorted(Path(settings.POLICY_DIR).glob("*.yaml")):
        if path.name.endswith(".tests.yaml"):
            continue
        raw = path.read_bytes()
        if b"kind: ReadinessPolicy" not in raw:
            continue  # tiering and review policies
        try:
            policy = build_policy(path, raw)
        except PolicyError:
            continue  # a broken readiness policy: policy_lint reports it
        found[policy.name] = frozenset(r.id for r in policy.requirements)
    return found


class Command(BaseCommand):
    help = "Validate compliance framework, mapping and crosswalk files (file and line per problem)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", nargs="?", type=Path, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        directory = options["directory"] or framework_dir()
        try:
            library = load_library(directory, policies=policies_on_disk)
        except LibraryError as exc:
            for line in exc.lines():
                self.stderr.write(line)
            raise CommandError(f"{len(exc.lines())} problem(s) in the framework library at {directory}") from exc
        controls = sum(len(f.controls) for f in library.frameworks.values())
        mapped = sum(len(m) for m in library.mappings.values())
        self.stdout.write(f"{directory}: {len(library.frameworks)} frameworks, {controls} controls, "
                          f"{mapped} mappings, {len(library.crosswalks)} crosswalk links: OK")
