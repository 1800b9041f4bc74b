"""The OpenAPI at /api/v1/schema/ is the truth: schemathesis generates requests from it (valid and
deliberately invalid ones) against the real app and checks every answer with all five response
checks. A status, body, content type or header the schema does not describe is a failure, and so
is any 5xx.

The world holds what makes schemas lie: a system without owners or links, an unassigned and a
decided review, a draft request with no tier and no system, gate checks with and without a
pipeline URL. The number of examples is bounded (SCHEMATHESIS_EXAMPLES, per operation and mode) so
the test stays well under a minute; raise it to search harder.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.services.systems import system_create
from clearance.tokens import api_token_create
from compliance.loader import load_library
from governance.models import Review
from governance.services.gate import gate_check
from governance.services.reviews import review_decide, reviews_open
from intake import services as intake
from risks.services.incidents import incident_report
from tests.conftest import answers, make_ready
from tests.risks.incident_helpers import open_incident

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """The real WSGI application, in the test's transaction: like Django's test client, the request
    signals must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_world(request_in_review: Any, personas: dict[str, Any], settings: Any) -> dict[str, Any]:
    settings.GATE_RATE_LIMIT = "1000000/min"
    system = request_in_review.system
    make_ready(system, personas)  # decides the three reviews: decided_by and conditions set
    Review.objects.filter(request=request_in_review).update(status="open", decided_by=None, decided_at=None,
                                                             assignee=None)
    security = Review.objects.get(request=request_in_review, kind="security")
    review_decide(actor=personas["security"], review=security, decision="rejected", rationale="No pen test yet.")
    bare = system_create(actor=personas["lead"], name="Bare system", slug="bare", purpose="p", risk_tier="high")
    draft = intake.request_create_draft(requester=personas["requester"], **answers(title="A draft", problem=""))
    lead = personas["lead"]
    unbuilt = intake.request_create_draft(requester=personas["requester"], **answers(title="No system yet"))
    intake.request_submit(actor=personas["requester"], request=unbuilt)
    intake.request_start_triage(actor=lead, request=unbuilt)
    unbuilt.refresh_from_db()
    intake.request_set_tier(actor=lead, request=unbuilt, tier=unbuilt.suggested_tier)
    reviews_open(actor=lead, request=unbuilt, kinds=["legal"])  # a review with no system
    for target, url in ((system, "https://ci.example.com/runs/1"), (bare, "")):
        gate_check(user=personas["lead"], token=None, system=target, environment="production",
                   policy=None, policy_error="no policy in this test", pipeline_url=url)
    # Incidents that make schemas lie: serious with a deadline and a report sent, and one on a system without
    # owners (no handler), not serious, without a start time or people counted.
    serious = open_incident(personas["owner"], system, serious_facts=["death"])
    incident_report(actor=personas["owner"], incident=serious, complete=False, sent_at=timezone.now(),
                    reference="MSA-1")
    unowned = open_incident(personas["lead"], bare, started_at=None, people_affected=None, harm_categories=[])
    tokens = {
        name: api_token_create(user=personas[user], name=name, scopes=scopes).plaintext
        for name, user, scopes in (("all", "lead", ["gate:check", "read", "write"]),
                                   ("reviewer", "legal", ["read", "write"]),
                                   ("gate-only", "owner", ["gate:check"]))
    }
    return {"tokens": tokens, "slugs": [system.slug, bare.slug], "requests": [request_in_review.pk, draft.pk, unbuilt.pk],
            "reviews": list(Review.objects.values_list("pk", flat=True)), "incidents": [serious.pk, unowned.pk]}


def _known_ids(operation: Any, world: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]] | None:
    path = operation.path
    if "{slug}" in path:
        return st.fixed_dictionaries({"slug": st.sampled_from(world["slugs"])})
    if path.startswith("/api/v1/requests/{id}"):
        return st.fixed_dictionaries({"id": st.sampled_from(world["requests"])})
    if path.startswith("/api/v1/reviews/{id}"):
        return st.fixed_dictionaries({"id": st.sampled_from(world["reviews"])})
    if "{framework_id}" in path:
        return st.fixed_dictionaries({"framework_id": st.sampled_from(sorted(load_library().frameworks))})
    if path.startswith("/api/v1/incidents/{id}"):
        return st.fixed_dictionaries({"id": st.sampled_from(world["incidents"])})
    return None


def _fuzz(operation: Any, mode: GenerationMode, strategy: st.SearchStrategy[Any], tokens: dict[str, str],
          cases: Counter[str], failures: Counter[str]) -> None:
    """Run one operation's cases, as a full-scope caller mostly, sometimes as a reviewer, a token
    without the read scope, or nobody."""
    label = f"{operation.label} [{mode.value}]"
    callers = st.sampled_from(["all", "all", "all", "reviewer", "gate-only", None])

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=strategy, caller=callers)
    def run(case: Any, caller: str | None) -> None:
        headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller else {}
        if caller is None and case.headers:
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
        cases[label] += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseException as exc:  # noqa: BLE001 - schemathesis raises a group of failures
            lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
            failures[f"{label} {response.status_code}: {' / '.join(lines[:10])}"] += 1

    run()


@pytest.mark.django_db
def test_the_api_answers_as_its_openapi_says(client: Any, personas: dict[str, Any], api_world: dict[str, Any],
                                             wsgi_app: Any) -> None:
    token = api_world["tokens"]["all"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app,
                                            headers={"Authorization": f"Bearer {token}"})
    failures: Counter[str] = Counter()
    cases: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, [op.label for op in operations]
    for operation in operations:
        known = _known_ids(operation, api_world)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(generation_mode=mode)]
            if known is not None and mode is GenerationMode.POSITIVE:
                strategies.append(known.flatmap(
                    lambda ids, op=operation: op.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                                             path_parameters=ids)))
            _fuzz(operation, mode, st.one_of(strategies), api_world["tokens"], cases, failures)
    total = sum(cases.values())
    print(f"schemathesis: {total} cases over {len(operations)} operations, {sum(failures.values())} failures")
    for label, count in sorted(cases.items()):
        print(f"  {count:4d}  {label}")
    assert not failures, "\n".join(f"{n}x {text}" for text, n in failures.most_common())
    assert total >= len(operations) * EXAMPLES
