"""Activating a readiness policy version: the one write that changes what every gate decides.

A file becomes the active version only when it lints and every case of its policy tests passes;
its exact bytes are recorded with their SHA-256, the activation is appended to the history and
audited, and each system's stored readiness is recomputed through the outbox. A file that stops
loading is refused here and so changes nothing: every process keeps deciding with the recorded
version.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from catalog.models import AISystem
from clearance.audit import audit_record
from clearance.outbox import outbox_enqueue
from clearance.policyfile import PolicyError, Problem
from governance.models import PolicyActivation, PolicyVersion
from governance.policy.loader import Policy, build_policy
from governance.policy.testing import run_test_file, tests_for

log = logging.getLogger("clearance.policy")


@dataclass(frozen=True)
class Activation:
    version: PolicyVersion
    policy: Policy
    changed: bool  # False: that version was already the active one
    previous: str  # the digest it replaced ("" when none was active)
    test_cases: int


def policy_check_file(path: Path) -> tuple[Policy, str, int]:
    """Lint the file and run its policy tests; raises PolicyError naming every problem. Returns the
    policy, the exact text and the number of test cases that passed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(path, f"cannot be read: {exc.strerror or exc}") from exc
    policy = build_policy(path, raw)
    test_files = tests_for(path)
    if not test_files:
        raise PolicyError(path, f"no policy tests name this file: write a *.tests.yaml beside it with "
                                f"`policy: {path.name}` (see policies/readiness.tests.yaml)")
    problems: list[Problem] = []
    cases = 0
    for test_file in test_files:
        result = run_test_file(test_file, path)
        cases += len(result.cases)
        for case in result.failed:
            problems.append(Problem(f"policy test failed: {test_file.name}:{case.line} {case.name} "
                                    f"[{case.environment}]: {'; '.join(case.mismatches)}"))
    if problems:
        raise PolicyError(path, problems=problems)
    return policy, raw.decode("utf-8"), cases


def policy_activate(*, actor: User | None, path: Path, via: str = PolicyActivation.Via.COMMAND, operator: str = "") -> Activation:
    """Make the policy in ``path`` the active version for every process, after lint and its tests.
    ``operator`` names who ran it when there is no user account (the OS user of a deploy)."""
    policy, text, cases = policy_check_file(path)
    now = timezone.now()
    with transaction.atomic():
        # Serializes activations: two at once cannot both believe they replaced the same version.
        latest = PolicyActivation.objects.select_for_update().order_by("-pk").first()
        previous = latest.digest if latest else ""
        version, _ = PolicyVersion.objects.get_or_create(
            digest=policy.version,
            defaults={"name": policy.name, "content": text, "source": str(path), "created_at": now,
                      "created_by": actor},
        )
        if previous == policy.version:
            return Activation(version, policy, False, previous, cases)
        PolicyActivation.objects.create(version=version, digest=version.digest, activated_at=now,
                                        activated_by=actor, via=via, previous_digest=previous)
        audit_record(actor=actor, action="policy.activated", obj=version,
                     object_repr=f"readiness policy {policy.name} {policy.version[:12]}",
                     data={"version": policy.version, "name": policy.name, "previous": previous,
                           "source": str(path), "via": via, "operator": operator, "test_cases": cases,
                           "requirements": len(policy.requirements)})
        # Stored verdicts name the version they came from; recompute them under the new one.
        if AISystem.objects.exists():
            outbox_enqueue(task_name="governance.recompute_all_readiness",
                           reason=f"readiness policy {policy.version[:12]} activated")
    log.info("readiness policy %s %s activated via %s (was %s)", policy.name, policy.version[:12], via,
                previous[:12] or "none")
    return Activation(version, policy, True, previous, cases)


def policy_activate_from_disk(*, via: str, path: Path | None = None) -> Activation | PolicyError:
    """On deploy (``migrate``) and ``demo``: activate the file in POLICY_DIR when it lints, its tests
    pass and it is not the active version already. A file that does not qualify is reported, never
    raised: the recorded version keeps deciding and the deploy goes on."""
    from governance.policy.loader import readiness_policy_path

    target = path or readiness_policy_path()
    try:
        return policy_activate(actor=None, path=target, via=via, operator=os_user())
    except PolicyError as exc:
        log.error("POLICY NOT ACTIVATED: %s; the active version is unchanged", exc)
        return exc


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers; the audit event still says "via"
        return ""
