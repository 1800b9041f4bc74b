"""``manage.py policy lint|test|explain|diff|schema``: the readiness policy, tested like code.

- ``lint [FILE]``: schema and semantic errors, one ``FILE:LINE: message`` per problem; exit 1.
- ``test [PATH]``: run the policy test files (``*.tests.yaml``) beside the policy; exit 1 on a mismatch.
- ``explain SYSTEM ENVIRONMENT``: the verdict with the facts that decided each requirement.
- ``diff NEW_POLICY``: which systems would start or stop passing per environment, and why.
- ``schema [--write]``: print (or write to the policy directory) the published JSON Schema.
- ``activate [FILE]``: make FILE (default: the readiness policy in POLICY_DIR) the version every
  process decides with, after it lints and its policy tests pass; recorded and audited.
- ``status``: the active version (who activated it, when, how) and whether the file on disk matches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from catalog.models import AISystem
from clearance.policyfile import PolicyError
from governance.models import PolicyActivation
from governance.policy.engine import UnknownEnvironment, evaluate
from governance.policy.loader import (
    SCHEMA_FILE,
    build_policy,
    load_readiness_policy,
    published_schema,
    readiness_policy_file_version,
    readiness_policy_path,
    readiness_policy_problem,
)
from governance.policy.testing import discover, run_test_file
from governance.selectors.facts import collect_facts
from governance.selectors.policy import active_info
from governance.selectors.rollout import portfolio_diff
from governance.services.policy import os_user, policy_activate
from intake.tiering import _build as build_tiering


def _read_policy(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(path, f"cannot be read: {exc.strerror}") from exc
    return build_policy(path, raw)


def schema_text() -> str:
    return json.dumps(published_schema(), indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Lint, test, explain and diff the readiness policy."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True,
                                    metavar="{lint,test,explain,diff,schema,activate,status}")
        lint = sub.add_parser("lint", help="validate policy files (default: the active readiness and tiering policies)")
        lint.add_argument("paths", nargs="*", type=Path)
        test = sub.add_parser("test", help="run policy test files (default: every *.tests.yaml in POLICY_DIR)")
        test.add_argument("paths", nargs="*", type=Path)
        test.add_argument("--policy", type=Path, default=None,
                          help="evaluate the cases against this policy instead of the one each file names")
        explain = sub.add_parser("explain", help="a system's verdict with the facts behind each requirement")
        explain.add_argument("system")
        explain.add_argument("environment")
        explain.add_argument("--format", choices=("text", "json"), default="text")
        diff = sub.add_parser("diff", help="what a new policy would change across the portfolio")
        diff.add_argument("new_policy", type=Path)
        diff.add_argument("--against", type=Path, default=None, help="the current policy (default: the active one)")
        diff.add_argument("--format", choices=("text", "json"), default="text")
        schema = sub.add_parser("schema", help="print the published JSON Schema of readiness policies")
        schema.add_argument("--write", action="store_true", help=f"write it to POLICY_DIR/{SCHEMA_FILE}")
        schema.add_argument("--check", action="store_true", help="exit 1 if the file in POLICY_DIR is out of date")
        activate = sub.add_parser("activate", help="make a policy file the active version (after lint and its tests)")
        activate.add_argument("path", nargs="?", type=Path, default=None,
                              help="the policy file (default: the readiness policy in POLICY_DIR)")
        activate.add_argument("--by", default="", help="the username to record as having activated it")
        sub.add_parser("status", help="the active policy version and the file on disk")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    # --- lint -------------------------------------------------------------------------------
    def do_lint(self, options: dict[str, Any]) -> None:
        paths = options["paths"]
        targets = [(p, "readiness") for p in paths] or [
            (readiness_policy_path(), "readiness"),
            (Path(settings.POLICY_DIR) / settings.TIERING_POLICY_FILE, "tiering"),
        ]
        failed = 0
        for path, kind in targets:
            try:
                if kind == "tiering" or (kind == "readiness" and b"kind: TieringPolicy" in _peek(path)):
                    policy = build_tiering(path, path.read_bytes())
                    self.stdout.write(self.style.SUCCESS(
                        f"{path}: tiering policy '{policy.name}' OK, version {policy.version[:12]}, "
                        f"{len(policy.rules)} rules"))
                    continue
                policy = _read_policy(path)
            except OSError as exc:
                failed += 1
                self.stderr.write(f"{path}: cannot be read: {exc.strerror}")
                continue
            except PolicyError as exc:
                failed += 1
                for line in exc.lines():
                    self.stderr.write(line)
                continue
            self.stdout.write(self.style.SUCCESS(
                f"{path}: policy '{policy.name}' OK, version {policy.version[:12]}, "
                f"{len(policy.requirements)} requirements, environments: {', '.join(policy.environments)}"
            ))
        if failed:
            raise CommandError(f"{failed} policy file(s) with errors")

    # --- test -------------------------------------------------------------------------------
    def do_test(self, options: dict[str, Any]) -> None:
        files: list[Path] = []
        for target in options["paths"] or [Path(settings.POLICY_DIR)]:
            files += discover(target)
        if not files:
            raise CommandError("no policy test files (*.tests.yaml) found")
        total = failed = 0
        for path in files:
            try:
                result = run_test_file(path, options["policy"])
            except PolicyError as exc:
                for line in exc.lines():
                    self.stderr.write(line)
                raise CommandError(f"{path}: the test file or its policy is invalid") from exc
            for case in result.cases:
                total += 1
                if case.ok:
                    self.stdout.write(f"PASS {path}:{case.line} {case.name} [{case.environment}]")
                    continue
                failed += 1
                self.stdout.write(self.style.ERROR(f"FAIL {path}:{case.line} {case.name} [{case.environment}]"))
                for mismatch in case.mismatches:
                    self.stdout.write(f"    - {mismatch}")
        summary = f"{total - failed} passed, {failed} failed ({len(files)} file(s))"
        if failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    # --- explain ----------------------------------------------------------------------------
    def do_explain(self, options: dict[str, Any]) -> None:
        system = AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").filter(
            slug=options["system"]).first()
        if system is None:
            raise CommandError(f"no system {options['system']!r}")
        try:
            policy = load_readiness_policy()
            facts = collect_facts(system)
            result = evaluate(policy, options["environment"], facts, timezone.now())
        except PolicyError as exc:
            raise CommandError(f"policy failed to load (every gate blocks): {exc}") from exc
        except UnknownEnvironment as exc:
            raise CommandError(f"unknown environment {exc}; known: {', '.join(policy.environments)}") from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps({
                "system": system.slug, "environment": options["environment"], "verdict": result.verdict,
                "policy": {"name": policy.name, "version": policy.version},
                "facts": facts.condition_facts(),
                "requirements": [r.as_json() for r in result.requirements],
                "not_applicable": list(result.not_applicable),
            }, indent=2, default=str))
            return
        self.stdout.write(f"{system.slug} / {options['environment']}: {result.verdict.upper()} "
                          f"(policy {policy.name} {policy.version[:12]})")
        self.stdout.write(f"  facts: {json.dumps(facts.condition_facts(), default=str)}")
        for req in result.requirements:
            self.stdout.write(f"  [{req.status}] {req.id}: {req.message}")
            if req.fix:
                self.stdout.write(f"      fix: {req.fix}")
            trace = {k: v for k, v in req.trace.items() if v not in (None, {}, [])}
            self.stdout.write(f"      decided by: {json.dumps(trace, default=str)}")
            self.stdout.write(f"      facts: {json.dumps(req.evidence, default=str)}")
        for skipped in result.not_applicable:
            self.stdout.write(f"  [n/a] {skipped['id']}: {skipped['reason']}")

    # --- diff -------------------------------------------------------------------------------
    def do_diff(self, options: dict[str, Any]) -> None:
        try:
            proposed = _read_policy(options["new_policy"])
            current = _read_policy(options["against"]) if options["against"] else load_readiness_policy()
        except PolicyError as exc:
            for line in exc.lines():
                self.stderr.write(line)
            raise CommandError("a policy does not load; nothing compared") from exc
        changes = portfolio_diff(current, proposed, timezone.now())
        if options["format"] == "json":
            self.stdout.write(json.dumps({
                "current": {"name": current.name, "version": current.version},
                "proposed": {"name": proposed.name, "version": proposed.version},
                "changes": [c.as_json() for c in changes],
            }, indent=2))
            return
        self.stdout.write(f"policy {current.name} {current.version[:12]} -> {proposed.name} {proposed.version[:12]}")
        if not changes:
            self.stdout.write("no system would change verdict in any environment")
            return
        for kind, heading in (("stops passing", "stop passing"), ("starts passing", "start passing"),
                              ("changes", "change")):
            group = [c for c in changes if c.kind == kind]
            if not group:
                continue
            self.stdout.write(f"\n{len(group)} would {heading}:")
            for change in group:
                self.stdout.write(f"  {change.system} / {change.environment}: {change.before} -> {change.after}")
                for reason in change.reasons:
                    self.stdout.write(f"      {reason}")
        starts = sum(c.kind == "starts passing" for c in changes)
        stops = sum(c.kind == "stops passing" for c in changes)
        self.stdout.write(f"\n{stops} stop passing, {starts} start passing, {len(changes)} change(s) in all")

    # --- activate / status -----------------------------------------------------------------
    def do_activate(self, options: dict[str, Any]) -> None:
        path = options["path"] or readiness_policy_path()
        actor = None
        if options["by"]:
            actor = get_user_model().objects.filter(username=options["by"], is_active=True).first()
            if actor is None:
                raise CommandError(f"--by: no active user {options['by']!r}")
        try:
            done = policy_activate(actor=actor, path=path, via=PolicyActivation.Via.COMMAND, operator=os_user())
        except PolicyError as exc:
            for line in exc.lines():
                self.stderr.write(line)
            raise CommandError(f"{path}: not activated; the active version is unchanged") from exc
        version = done.policy.version
        if not done.changed:
            self.stdout.write(f"{path}: policy '{done.policy.name}' {version[:12]} is already the active version")
            return
        self.stdout.write(self.style.SUCCESS(
            f"{path}: policy '{done.policy.name}' {version[:12]} is now the active version "
            f"({done.test_cases} policy test cases passed; was {done.previous[:12] or 'none'})"))

    def do_status(self, options: dict[str, Any]) -> None:
        info = active_info()
        if info is None:
            self.stdout.write("active: none; every gate blocks until a version is activated "
                              "(manage.py policy activate)")
        else:
            by = info.activated_by or "no user"
            self.stdout.write(f"active: policy '{info.name}' {info.digest} activated {info.activated_at:%Y-%m-%d %H:%M} "
                              f"UTC via {info.via} by {by} (from {info.source})")
        path = readiness_policy_path()
        problem = readiness_policy_problem(path)
        if problem is not None:
            self.stdout.write(f"file:   {path} does not load ({problem.message}); it changes nothing")
            return
        on_disk = readiness_policy_file_version(path)
        if info is not None and on_disk == info.digest:
            self.stdout.write(f"file:   {path} is the active version")
        else:
            self.stdout.write(f"file:   {path} is version {(on_disk or '')[:12]}, not active: "
                              f"run manage.py policy activate to make it so")

    # --- schema -----------------------------------------------------------------------------
    def do_schema(self, options: dict[str, Any]) -> None:
        target = Path(settings.POLICY_DIR) / SCHEMA_FILE
        text = schema_text()
        if options["check"]:
            on_disk = target.read_text() if target.exists() else ""
            if on_disk != text:
                raise CommandError(f"{target} is out of date: run manage.py policy schema --write")
            self.stdout.write(f"{target} is up to date")
        elif options["write"]:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.stdout.write(f"wrote {target}")
        else:
            self.stdout.write(text, ending="")


def _peek(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(4096)
    except OSError:
        return b""
