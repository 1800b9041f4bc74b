"""The gate's attestation: an in-toto Statement v1 describing one gate answer, in a DSSE envelope
signed with the server's Ed25519 key (``clearance.dsse``). The format is documented for third-party
verifiers in docs/attestations.md; ``clearance-check verify`` checks it offline.

The statement is built from the answer the gate is about to send, after it is complete, so it
describes exactly that answer — the stored verdict or the live one, whichever was served.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.conf import settings

from clearance.dsse import IN_TOTO_PAYLOAD_TYPE, sign_envelope

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# An identifier of the predicate's schema (docs/attestations.md), stable across deployments; like
# most predicate types it need not resolve.
PREDICATE_TYPE = "https://clearance.dev/attestations/gate-verdict/v1"
# A full Git object id (SHA-1 or SHA-256), the only form the in-toto digest set's gitCommit admits.
FULL_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes a verifier recomputes the subject digest from."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def subject_of(system: str, version: str, commit: str) -> dict[str, Any]:
    """The deployed thing: the system at a version and commit. in-toto requires a digest for each
    subject; the sha256 is over the canonical JSON of the three values, so it names exactly that
    combination, and a full commit id is given as gitCommit too."""
    identity = {"system": system, "version": version, "commit": commit}
    digest = {"sha256": hashlib.sha256(canonical_json(identity)).hexdigest()}
    if FULL_COMMIT.match(commit.lower()):
        digest["gitCommit"] = commit.lower()
    return {"name": system, "digest": digest, "annotations": identity}


def statement_for(answer: dict[str, Any], *, version: str, commit: str, pipeline_url: str) -> dict[str, Any]:
    """The in-toto statement of one gate answer (the response body, as it will be sent)."""
    policy = answer["policy"]
    policy_version = str(policy.get("version") or "")
    predicate: dict[str, Any] = {
        "verdict": answer["verdict"],
        "system": answer["system"],
        "environment": answer["environment"],
        "checkedAt": answer["checked_at"],
        "gateCheck": {"id": answer["id"], "url": answer["url"]},
        "policy": {
            "name": policy.get("name"),
            "version": policy_version,
            # The version is the policy file's SHA-256; empty when no policy could be loaded.
            "digest": {"sha256": policy_version} if re.fullmatch(r"[0-9a-f]{64}", policy_version) else {},
        },
        "requirements": [
            {"id": req["id"], "status": req["status"], "reason": req.get("message") or "",
             "since": req.get("since")}
            for req in answer["requirements"]
        ],
        "request": {"version": version, "commit": commit, "pipelineUrl": pipeline_url},
        "warnings": list(answer.get("warnings") or []),
        "issuer": settings.SITE_URL,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject_of(answer["system"], version, commit)],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def attest(answer: dict[str, Any], *, version: str, commit: str, pipeline_url: str) -> dict[str, Any]:
    """The signed DSSE envelope of one gate answer."""
    statement = statement_for(answer, version=version, commit=commit, pipeline_url=pipeline_url)
    return sign_envelope(canonical_json(statement), payload_type=IN_TOTO_PAYLOAD_TYPE)
