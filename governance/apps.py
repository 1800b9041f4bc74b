import sys
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance import checks  # noqa: F401 - registers the policy start-up check

        post_migrate.connect(activate_policy_after_migrate, sender=self)


def activate_policy_after_migrate(sender: AppConfig, *, verbosity: int = 1, using: str = "default",
                                  stdout: Any = None, **kwargs: Any) -> None:
    """A deploy runs ``migrate``: the policy file it ships becomes the active version when it lints
    and its tests pass (and is not already active)."""
    from django.db import connections

    from clearance.policyfile import PolicyError
    from governance.models import PolicyActivation
    from governance.services.policy import policy_activate_from_disk

    if PolicyActivation._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated backwards past the table, or only some apps so far
    outcome = policy_activate_from_disk(via=PolicyActivation.Via.MIGRATE)
    if verbosity < 1:
        return
    out = stdout or sys.stdout
    if isinstance(outcome, PolicyError):
        out.write(f"Readiness policy NOT activated (the active version is unchanged): {outcome}\n")
    elif outcome.changed:
        out.write(f"Readiness policy {outcome.policy.name} {outcome.policy.version[:12]} activated "
                  f"({outcome.test_cases} policy test cases passed).\n")
