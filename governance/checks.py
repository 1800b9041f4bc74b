"""Start-up checks: the readiness and tiering policies must load (``manage.py check`` fails if not).

At run time a policy that stops loading still fails closed: every gate blocks with the reason.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from clearance.policyfile import PolicyError


@register("policy")
def policies_load(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from governance.policy.loader import load_readiness_policy
    from governance.policy.reviews import load_review_policy
    from intake.tiering import load_tiering_policy

    errors = []
    for loader, ident in ((load_readiness_policy, "governance.E001"), (load_tiering_policy, "intake.E001"),
                          (load_review_policy, "governance.E002")):
        try:
            loader()
        except PolicyError as exc:
            errors.append(Error(f"policy does not load: {exc}", hint="run manage.py policy_lint", id=ident))
    return errors
