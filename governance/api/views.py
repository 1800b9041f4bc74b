from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

import clearance
from catalog.permissions import can_view_system
from clearance.api import error_body, signed_in_user
from clearance.dsse import gate_key_set
from clearance.errors import NotAllowed
from clearance.models import ApiToken
from clearance.observability.metrics import observe_gate
from clearance.outages import statement_timeout
from clearance.permissions import token_allows_system, token_restricted_to
from clearance.policyfile import PolicyError
from clearance.tokens import THROTTLE_DEGRADED_WARNING, BearerTokenAuthentication, Scope, TokenRateThrottle
from governance.api.attestation import PREDICATE_TYPE, STATEMENT_TYPE, attest
from governance.api.openapi import DECISION_ERROR_RESPONSES, GATE_ERROR_RESPONSES, GATE_EXAMPLES
from governance.api.serializers import (
    GateCheckRequestSerializer,
    GateCheckResponseSerializer,
    GateCheckSerializer,
    ReviewDecisionSerializer,
    ReviewSerializer,
)
from governance.models import GateCheck, Review
from governance.permissions import reviewer_refusal
from governance.policy.checks import FIX_VIEWS
from governance.policy.loader import Policy, load_readiness_policy, published_schema, readiness_policy_problem
from governance.selectors.facts import system_for_facts
from governance.selectors.gate import stored_verdict, why_not_current
from governance.selectors.policy import policy_for_digest
from governance.services.gate import gate_check, gate_check_stored
from governance.services.reviews import review_decide


class ReviewFilter(filters.FilterSet):
    class Meta:
        model = Review
        fields = ["kind", "status"]


class ReviewViewSet(viewsets.ReadOnlyModelViewSet[Review]):
    """Reviews the caller may see; reviewers decide them with POST …/decision."""

    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter

    def get_queryset(self) -> Any:
        reviews = token_restricted_to(self.request, Review.objects.visible_to(self.request.user),
                                      "system__slug", "request__system__slug")
        return reviews.select_related("assignee", "decided_by", "system")

    @extend_schema(
        summary="Decide a review",
        description="Approve, reject or request changes, with a rationale (and for an approval, conditions and "
                    "an expiry). Who may decide is checked before the body is read.",
        request=ReviewDecisionSerializer,
        responses={200: ReviewSerializer, **DECISION_ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def decision(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        # Who may decide comes before the body: a caller who may not decide learns nothing from
        # the validation of what they sent, and a hostile body costs nothing.
        refusal = reviewer_refusal(request.user, review)
        if refusal:
            raise NotAllowed(refusal)
        body = ReviewDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = review_decide(actor=signed_in_user(request), review=review, **body.validated_data)
        return Response(ReviewSerializer(decided, context={"request": request}).data)


def _error(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> Response:
    return Response(error_body(code, message, fields), status=status)


REQUIREMENT_KEYS = ("id", "title", "status", "message", "fix", "evidence", "since")


def gate_requirement(request: Request, slug: str, req: dict[str, Any]) -> dict[str, Any]:
    """One requirement of the answer; an unmet one links to the page where it is fixed."""
    data = {key: req.get(key) for key in REQUIREMENT_KEYS}
    fix_url = None
    if req.get("status") not in ("met", "waived"):
        view = FIX_VIEWS.get((req.get("trace") or {}).get("check", ""))
        name, fragment = view if view else ("system-detail", f"env-{req.get('id')}")
        fix_url = request.build_absolute_uri(reverse(name, kwargs={"slug": slug}) + (f"#{fragment}" if fragment else ""))
    data["fix_url"] = fix_url
    return data


class GateChecksView(generics.ListAPIView[GateCheck]):
    """The deployment gate. POST asks whether a system may deploy to an environment; GET lists the
    recorded checks the caller may see."""

    serializer_class = GateCheckSerializer
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]

    def get_authenticators(self) -> list[Any]:
        # The gate resolves tokens through the per-process cache (clearance.tokens.gate_token_cache).
        return [BearerTokenAuthentication(cached=True), SessionAuthentication()]
    required_scopes = {"POST": Scope.GATE_CHECK}
    throttle_classes = [TokenRateThrottle]
    filterset_fields = ["environment", "verdict"]

    def get_queryset(self) -> Any:
        checks = token_restricted_to(self.request, GateCheck.objects.visible_to(self.request.user), "system__slug")
        return checks.select_related("system", "user")

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # One transaction with a statement timeout around the whole call (token lookup included),
        # so a lock or a stuck database answers 503 in seconds rather than holding the worker.
        started = time.perf_counter()
        try:
            with statement_timeout(settings.GATE_STATEMENT_TIMEOUT_MS) as abandon:
                response = super().dispatch(request, *args, **kwargs)
                if response.status_code >= 500:
                    abandon()
        except Exception:
            if request.method == "POST":  # an outage answered by the middleware: 503
                observe_gate(seconds=time.perf_counter() - started, status=503, verdict=None, system=None,
                             environment="")
            raise
        if request.method == "POST":
            answer = getattr(response, "data", None)
            answer = answer if response.status_code == 200 and isinstance(answer, dict) else {}
            observe_gate(seconds=time.perf_counter() - started, status=response.status_code,
                         verdict=answer.get("verdict"), system=answer.get("system"),
                         environment=answer.get("environment", ""))
        return response

    @extend_schema(
        summary="Ask whether a system may deploy to an environment",
        description=(
            "The deployment gate. Evaluates the active readiness policy against the system's governance "
            "record, records the call, and answers `pass` or `block` with every applicable requirement "
            "(status met, missing, failed, stale or waived; for unmet ones the fix, since when, and the "
            "page where it is fixed). Nothing but a complete evaluation yields `pass`: a policy that does "
            "not load, facts that cannot be read or an evaluation that fails answer `block` with the "
            "reason. Needs a bearer token with the `gate:check` scope (restricted tokens: only their "
            "systems); rate-limited per token (429 with Retry-After)."
        ),
        request=GateCheckRequestSerializer,
        responses={200: GateCheckResponseSerializer, **GATE_ERROR_RESPONSES},
        examples=GATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise exceptions.ParseError("the body must be a JSON object")
        body = GateCheckRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        attest = _wants_attestation(request, data)
        if attest is None:
            return _error(400, "invalid", "invalid field(s): attestation",
                          {"attestation": ["the attestation query parameter must be 1, true, 0 or false"]})
        signing = (data["version"], data["commit"], data["pipeline_url"]) if attest else None
        token = request.auth if isinstance(request.auth, ApiToken) else None
        warnings: list[str] = []
        if token is not None and not token_allows_system(token, data["system"]):
            return _error(403, "token_not_allowed_for_system",
                          f"this token is restricted to {', '.join(token.system_slugs)}; it may not check "
                          f"'{data['system']}'", {"system": ["not allowed for this token"]})
        if getattr(request, "throttle_degraded", False):
            warnings.append(THROTTLE_DEGRADED_WARNING)
        # The hot path: one query for the stored verdict, and nothing evaluated when it is current.
        row = stored_verdict(data["system"], data["environment"])
        if row is not None and can_view_system(request.user, row.system):
            try:
                active = policy_for_digest(row.active_digest or "")
            except PolicyError:
                active = None  # the slow path below says why, with the reason every process gives
            if active is not None and not why_not_current(row, active, timezone.now()):
                problem = readiness_policy_problem()
                if problem is not None:
                    warnings.append(_file_warning(problem, active))
                stored = gate_check_stored(user=signed_in_user(request), token=token, row=row,
                                           version=data["version"], commit=data["commit"],
                                           pipeline_url=data["pipeline_url"])
                return _gate_answer(request, stored.check, warnings, signing)
        system = system_for_facts(data["system"], request.user)
        if system is None:
            return _error(404, "unknown_system", f"no system '{data['system']}' (or you may not see it)",
                          {"system": ["unknown system"]})
        policy, policy_error = None, ""
        problem = readiness_policy_problem()
        try:
            policy = load_readiness_policy()  # the active version, the same in every process
        except PolicyError as exc:
            policy_error = exc.message
            if problem is not None:
                policy_error += f"; the policy file on this host does not load either: {problem}"
        else:
            if problem is not None:
                warnings.append(_file_warning(problem, policy))
        if policy is not None and data["environment"] not in policy.environments:
            known = ", ".join(sorted(policy.environments))
            return _error(404, "unknown_environment", f"no environment '{data['environment']}'; known: {known}",
                          {"environment": [f"unknown environment; known: {known}"]})
        result = gate_check(
            user=signed_in_user(request),
            token=token,
            system=system,
            environment=data["environment"],
            policy=policy,
            policy_error=policy_error,
            version=data["version"],
            commit=data["commit"],
            pipeline_url=data["pipeline_url"],
        )
        return _gate_answer(request, result.check, warnings, signing)


def _wants_attestation(request: Request, data: dict[str, Any]) -> bool | None:
    """Whether the caller asked for an attestation (body field or query parameter); None for a query
    value that is neither yes nor no, which must not be taken as either."""
    raw = request.query_params.get("attestation")
    if raw is None:
        return bool(data["attestation"])
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return bool(data["attestation"])
    return None


def _file_warning(problem: PolicyError, policy: Policy) -> str:
    # Loud, but not a block: a file that does not load changes nothing.
    return (f"the readiness policy file on this host does not load ({problem}); it changes nothing: this "
            f"verdict uses the active version {policy.version[:12]}, like every other server")


def _gate_answer(request: Request, check: GateCheck, warnings: list[str],
                 signing: tuple[str, str, str] | None = None) -> Response:
    """The answer to a gate call; with ``signing`` (the call's version, commit and pipeline URL) also
    its attestation, built from this very answer once it is complete."""
    slug = check.system.slug
    answer: dict[str, Any] = {
        "id": check.pk,
        "verdict": check.verdict,
        "system": slug,
        "environment": check.environment,
        "policy": {"name": check.policy_name, "version": check.policy_version},
        "checked_at": check.checked_at.isoformat(),
        "requirements": [gate_requirement(request, slug, req) for req in check.requirements],
        "warnings": warnings,
        "url": request.build_absolute_uri(
            reverse("system-detail", kwargs={"slug": slug}) + f"#env-{check.environment}"
        ),
    }
    if signing is not None:
        version, commit, pipeline_url = signing
        answer["attestation"] = attest(answer, version=version, commit=commit, pipeline_url=pipeline_url)
    return Response(answer)


CLIENT_PATH = Path(clearance.__file__).resolve().parent / "gate_client.py"


@require_GET
def download_client(request: HttpRequest) -> FileResponse:
    """The stdlib-only CLI as one file, for CI runners: curl -o clearance_check.py …"""
    return FileResponse(
        CLIENT_PATH.open("rb"), as_attachment=True, filename="clearance_check.py", content_type="text/x-python"
    )


@require_GET
def policy_schema(request: HttpRequest) -> JsonResponse:
    """The JSON Schema of readiness policy files, at a stable URL editors can point at (public:
    it describes the file format, not anyone's policy)."""
    response = JsonResponse(published_schema(), json_dumps_params={"indent": 2, "sort_keys": True})
    response["Content-Type"] = "application/schema+json"
    return response


@require_GET
def gate_keys(request: HttpRequest) -> JsonResponse:
    """The public keys gate attestations are verified with, current and retired: public, so deploy
    tooling can verify without an account, and cacheable (they change only at a rotation)."""
    keys = {**gate_key_set(), "predicateType": PREDICATE_TYPE, "statementType": STATEMENT_TYPE}
    response = JsonResponse(keys, json_dumps_params={"indent": 2, "sort_keys": True})
    response["Cache-Control"] = f"public, max-age={settings.GATE_KEYS_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
