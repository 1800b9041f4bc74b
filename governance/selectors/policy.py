"""The active readiness policy: the version the newest activation names, built from the content
recorded with it in the database, never from the file on this host.

Each call reads the active version's digest (one indexed query, so an activation on any host takes
effect on the next call everywhere); the parsed policy is cached per process by that digest.
Database errors propagate: the gate turns them into 503, a worker task retries, so nobody answers
from a version they could not confirm.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clearance.policyfile import PolicyError, content_hash
from governance.models import PolicyActivation, PolicyVersion
from governance.policy.loader import Policy, build_policy

ACTIVE = "active readiness policy"


class PolicyUnavailable(PolicyError):
    """No readiness policy version can be determined: every gate blocks with this reason."""


@dataclass(frozen=True)
class ActiveInfo:
    digest: str
    name: str
    source: str
    activated_at: datetime
    activated_by: str
    via: str


_lock = threading.Lock()
# digest -> the built policy, or why its recorded content does not build. A digest names immutable
# content, so an entry never goes stale; only a handful of versions are ever active in one process.
_built: dict[str, Policy | PolicyUnavailable] = {}
_MAX_CACHED = 8


def active_digest() -> str | None:
    return PolicyActivation.objects.order_by("-pk").values_list("digest", flat=True).first()


def _build(digest: str) -> Policy | PolicyUnavailable:
    row = PolicyVersion.objects.filter(digest=digest).values("content", "source").first()
    if row is None:
        return PolicyUnavailable(ACTIVE, f"the active version {digest[:12]} is not recorded")
    raw = row["content"].encode("utf-8")
    if content_hash(raw) != digest:
        # Someone changed the stored text behind the version's back: trust neither.
        return PolicyUnavailable(ACTIVE, f"the recorded content of the active version {digest[:12]} does not "
                                         f"match its SHA-256; activate a policy file again")
    try:
        return build_policy(Path(row["source"] or "recorded-policy.yaml"), raw)
    except PolicyError as exc:
        # E.g. a check type this code no longer knows: this process cannot judge with that version.
        return PolicyUnavailable(ACTIVE, f"the active version {digest[:12]} does not load in this process: "
                                         f"{exc.message}")


def active_policy() -> Policy:
    """The active policy; raises PolicyUnavailable (callers block with its reason) when none is
    activated or its recorded content cannot be built here."""
    digest = active_digest()
    if digest is None:
        raise PolicyUnavailable(ACTIVE, "no readiness policy version has been activated "
                                        "(run `manage.py policy activate`)")
    return policy_for_digest(digest)


def policy_for_digest(digest: str) -> Policy:
    """The policy version with this digest, built once per process from its recorded content (one
    query the first time, none after); raises PolicyUnavailable when it cannot be built here."""
    with _lock:
        entry = _built.get(digest)
    if entry is None:
        entry = _build(digest)
        with _lock:
            if len(_built) >= _MAX_CACHED:
                _built.clear()
            _built[digest] = entry
    if isinstance(entry, PolicyUnavailable):
        raise entry
    return entry


def active_info() -> ActiveInfo | None:
    """Who activated the active version, when and how (for `policy status` and the pages)."""
    row = (PolicyActivation.objects.select_related("version", "activated_by").order_by("-pk").first())
    if row is None:
        return None
    return ActiveInfo(row.digest, row.version.name, row.version.source, row.activated_at,
                      row.activated_by.get_username() if row.activated_by else "", row.via)


def clear_cache() -> None:
    with _lock:
        _built.clear()
