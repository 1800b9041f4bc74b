"""OpenAPI for the gate: error responses and an example of every answer (pass, block, each error)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from clearance.api import ErrorSerializer

_POLICY = {"name": "default", "version": "3500ca79b937be3ba085c3ced48f299b6eca9c36319102b5b59442aea49e70be"}
_URL = "https://clearance.example.com/systems/support-copilot/#env-production"


def _met(req_id: str, title: str, message: str, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": req_id, "title": title, "status": "met", "message": message, "fix": "", "evidence": evidence or {},
            "since": None, "fix_url": None}


PASS = {
    "id": 412, "verdict": "pass", "system": "support-copilot", "environment": "production", "policy": _POLICY,
    "checked_at": "2026-11-21T10:15:02.114Z",
    "requirements": [
        _met("owners-assigned", "Business, technical and risk owners assigned",
             "owners assigned: business bea, technical tom, risk rita"),
        _met("security-approval", "Security review approved and not expired",
             "security approved by sam, valid until 2027-05-02"),
        {"id": "runbook-linked", "title": "Runbook linked", "status": "waived",
         "message": "waived by rita until 2026-12-01 23:59 UTC: runbook moves to the new wiki this sprint "
                    "(underneath: missing, no runbook linked)",
         "fix": "", "since": None, "fix_url": None,
         "evidence": {"waiver": {"id": 7, "approved_by": "rita", "expires_at": "2026-12-01T23:59:00+00:00",
                                 "justification": "runbook moves to the new wiki this sprint",
                                 "underlying_status": "missing"}}},
    ],
    "url": _URL, "warnings": [],
}
# The shape only: the payload is the base64 of the statement, the signature over DSSE's PAE of it.
ATTESTATION = {
    "payloadType": "application/vnd.in-toto+json",
    "payload": "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJwcmVkaWNhdGUiOnsidmVyZGljdCI6InBhc3MifX0=",
    "signatures": [{"keyid": "3f1c0e9a7b2d4c58",
                    "sig": "mXbq0C8kVd1n0f4bq3Qv8m3cQ7W0q8sQ9h1pP6kqg5f0a4B0y1t3r2e1w0q9p8o7i6u5y4t3r2e1w0q9p8o7iA=="}],
}
BLOCK = {
    "id": 413, "verdict": "block", "system": "support-copilot", "environment": "production", "policy": _POLICY,
    "checked_at": "2026-11-21T10:16:40.500Z",
    "requirements": [
        _met("owners-assigned", "Business, technical and risk owners assigned",
             "owners assigned: business bea, technical tom, risk rita"),
        {"id": "evaluation-threshold", "title": "Primary evaluation metric meets its threshold and is fresh",
         "status": "stale",
         "message": "evidence stale since 2026-11-02: the last rouge_l result is from 2026-10-03, older than 30 days",
         "fix": "Set the primary metric and threshold on the system page, then run the evaluation so a result "
                "fresher than 30 days lands.",
         "evidence": {"metric": "rouge_l", "value": 0.47, "threshold": 0.4, "observed_at": "2026-10-03T08:00:00+00:00"},
         "since": "2026-11-02T08:00:00+00:00",
         "fix_url": "https://clearance.example.com/systems/support-copilot/settings/"},
    ],
    "url": _URL, "warnings": [],
}


def _error(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


ERROR_EXAMPLES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "400": [
        ("missing field", _error("invalid", "invalid field(s): system", {"system": ["This field is required."]})),
        ("unknown field", _error("invalid", "invalid field(s): extra", {"extra": ["unknown field"]})),
        ("body not a JSON object", _error("parse_error", "the body must be a JSON object")),
    ],
    "401": [
        ("no token", _error("not_authenticated", "Authentication credentials were not provided.")),
        ("bad token", _error("authentication_failed", "the token is not valid (check for a typo or a truncated value)")),
        ("expired token", _error("authentication_failed", "the token 'ci-prod' expired on 2026-10-01")),
        ("revoked token", _error("authentication_failed", "the token 'ci-prod' was revoked on 2026-11-02")),
    ],
    "403": [
        ("token lacks the gate:check scope", _error("permission_denied", "the token lacks the 'gate:check' scope")),
        ("token restricted to other systems",
         _error("token_not_allowed_for_system", "this token is restricted to churn-predictor; it may not check "
                "'support-copilot'", {"system": ["not allowed for this token"]})),
    ],
    "404": [
        ("unknown system", _error("unknown_system", "no system 'support-copilt' (or you may not see it)",
                                  {"system": ["unknown system"]})),
        ("unknown environment", _error("unknown_environment", "no environment 'prod'; known: development, "
                                       "production, staging",
                                       {"environment": ["unknown environment; known: development, production, staging"]})),
    ],
    "429": [
        ("rate limited", _error("throttled", "Request was throttled. Expected available in 12 seconds.")),
    ],
    "503": [
        ("database down", _error("unavailable", "the database is unavailable; nothing was decided, retry shortly")),
        ("database too slow", _error("unavailable", "the database did not answer within 2000 ms (a lock or an "
                                                    "overload); nothing was decided, retry shortly")),
    ],
}

GATE_EXAMPLES = [
    OpenApiExample("pass", value=PASS, response_only=True, status_codes=["200"],
                   summary="Every applicable requirement met or waived"),
    OpenApiExample("block", value=BLOCK, response_only=True, status_codes=["200"],
                   summary="An unmet requirement, with since when and where to fix it"),
    OpenApiExample("request", value={"system": "support-copilot", "environment": "production", "version": "1.4.2",
                                     "commit": "9fceb02", "pipeline_url": "https://ci.example.com/runs/981"},
                   request_only=True),
    OpenApiExample("request with an attestation",
                   value={"system": "support-copilot", "environment": "production", "version": "1.4.2",
                          "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8", "attestation": True},
                   request_only=True),
    OpenApiExample("pass with an attestation", value={**PASS, "attestation": ATTESTATION}, response_only=True,
                   status_codes=["200"], summary="Asked with attestation: true (docs/attestations.md)"),
    *[
        OpenApiExample(name, value=value, response_only=True, status_codes=[status])
        for status, examples in ERROR_EXAMPLES.items() for name, value in examples
    ],
]

GATE_ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Bad body: a missing or unknown field, a bad value, not JSON."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, expired or revoked token."),
    403: OpenApiResponse(ErrorSerializer, description="The token lacks `gate:check` or is restricted to other systems."),
    404: OpenApiResponse(ErrorSerializer, description="Unknown system (or one the token's user may not see) or "
                                                      "unknown environment."),
    429: OpenApiResponse(ErrorSerializer, description=("Rate limit of the token reached, or too many invalid bearer "
                                                       "tokens from this address; see the Retry-After header.")),
    503: OpenApiResponse(ErrorSerializer, description="The database is down or did not answer within the gate's "
                                                      "statement timeout; nothing was decided. Retry after the "
                                                      "Retry-After header's seconds (clearance-check does)."),
}

DECISION_ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Bad body: not a JSON object, a missing or invalid field "
                                                      "(named in `fields`), an expiry in the past or too far ahead."),
    403: OpenApiResponse(ErrorSerializer, description="The caller may see the review but may not decide it (not a "
                                                      "reviewer of its kind, or their own request), or the token "
                                                      "lacks the `write` scope. Checked before the body is read."),
    404: OpenApiResponse(ErrorSerializer, description="No such review, or one the caller may not see."),
    409: OpenApiResponse(ErrorSerializer, description="The review is no longer open: someone decided it first."),
}
