"""Start-up checks: the policy files must load (``manage.py check`` fails if not).

They read the files on this host only, not the database: the readiness file becomes the active
version when it is activated (``manage.py policy activate``, or ``migrate``), and until then a file
that stops loading changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from clearance.policyfile import PolicyError


@register("policy")
def policies_load(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from governance.policy.loader import load_policy_file
    from governance.policy.reviews import load_review_policy
    from intake.tiering import load_tiering_policy

    errors = []
    for loader, ident in ((load_policy_file, "governance.E001"), (load_tiering_policy, "intake.E001"),
                          (load_review_policy, "governance.E002")):
        try:
            loader()
        except PolicyError as exc:
            errors.append(Error(f"policy does not load: {exc}", hint="run manage.py policy_lint", id=ident))
    return errors
