from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClearanceConfig(AppConfig):
    name = "clearance"
    verbose_name = "Platform (audit, outbox, tokens)"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from clearance import checks, schema  # noqa: F401 - register the deploy checks and the OpenAPI auth extension
        from clearance.signin import audit_lockout
        from clearance.sso import checks as sso_checks  # noqa: F401 - register the single sign-on checks

        user_locked_out.connect(audit_lockout, dispatch_uid="clearance.audit_lockout")
        post_migrate.connect(_grant_runtime_role, sender=self)


def _grant_runtime_role(using: str = "default", **kwargs: Any) -> None:
    """After every migrate (run as the owner), give DB_RUNTIME_ROLE its privileges on the tables as
    they now are, so a new table never leaves the running app without access."""
    from django.conf import settings
    from django.db import connections

    from clearance.dbroles import apply_grants

    if settings.DB_RUNTIME_ROLE and connections[using].vendor == "postgresql":
        apply_grants(settings.DB_RUNTIME_ROLE, connections[using])
