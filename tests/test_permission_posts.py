"""Every URL pattern × every persona, for POST (the GET half is tests/test_permission_matrix.py).

A POST check sends a body that is valid for the personas allowed to act, so a refusal is about
permission, not validation. An allowed POST must change what it is for; a refused one must change
nothing: neither that state nor the audit trail. Each POST runs in a savepoint that is rolled back
afterwards, so every persona meets the same world."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset, EvidenceSource, MetricRequirement, Vendor
from catalog.services.evidence import source_create
from clearance.models import ApiToken, AuditEvent, Notification
from clearance.notifications import notify
from clearance.tokens import api_token_create
from compliance.models import Attestation, FrameworkImport, OperatorProfile
from governance.models import DecisionRecord, DocumentExport, GateCheck, Review, Waiver
from governance.services.waivers import waiver_decide, waiver_request
from intake import services as intake
from intake.models import UseCaseRequest
from integrations.models import Delivery, Webhook
from provisioning.models import ScimGroup
from risks.models import Incident, Risk, RiskAcceptance
from tests import test_permission_matrix as matrix
from tests.conftest import PASSWORD, answers
from tests.risks.incident_helpers import open_incident

# (see tests/test_permission_matrix.py)
# The sources in these scenarios point at 127.0.0.1, which only an explicit allowance lets through.
pytestmark = pytest.mark.usefixtures("local_evidence_hosts")

# The GET half's personas, table and world: one world serves both halves.
PERSONAS, LOGGED_IN, MATRIX, url_names = matrix.PERSONAS, matrix.LOGGED_IN, matrix.MATRIX, matrix.url_names
world = matrix.world


@dataclass(frozen=True)
class Post:
    """One POST endpoint: where (kwargs), what (body, per persona), what it changes (state), the
    status each persona gets, and the personas whose POST goes through (``acts``). A state of None
    marks the session endpoints, where there is nothing to refuse."""

    kwargs: Callable[[Any], dict[str, Any]]
    body: Callable[[Any, str], dict[str, Any]]
    state: Callable[[Any], Any] | None
    expect: dict[str, int]
    acts: frozenset[str]
    json: bool = False


def post(kwargs: Callable[[Any], dict[str, Any]] | None, body: Any, state: Callable[[Any], Any] | None,
         acts: dict[str, int], refused: dict[str, int] | int, *, anon: int = 302, json: bool = False) -> Post:
    """``acts``: persona → status of a POST that goes through; ``refused``: the status of everyone
    else (one number, or per persona with the rest at 404)."""
    expect = {}
    for p in PERSONAS:
        if p == "anon":
            expect[p] = anon
        elif p in acts:
            expect[p] = acts[p]
        else:
            expect[p] = refused if isinstance(refused, int) else refused.get(p, 404)
    return Post(kwargs=kwargs or (lambda w: {}), body=body if callable(body) else (lambda w, persona: body),
                state=state, expect=expect, acts=frozenset(acts), json=json)


def acting(personas: Any, status: int = 302) -> dict[str, int]:
    """These personas' POST goes through, answered with ``status`` (a redirect unless said)."""
    return {p: status for p in personas}


def seen(personas: Any) -> dict[str, int]:
    """Refused with 403 for those who may see the object; 404 for everyone else."""
    return {p: 403 for p in personas}


EDITORS = ("requester", "lead", "owner", "risk")  # of the system: its owners and the governance team
READERS = ("requester", "security", "legal", "lead", "owner", "risk", "auditor")  # of the system
REQUEST_READER_NAMES = ("requester", "security", "legal", "lead", "auditor", "owner", "risk")
PORTFOLIO = ("lead", "auditor")  # they see every request, drafts included
SECURITY_REVIEW_SEERS = ("requester", "security", "lead", "owner", "risk", "auditor")
HF_CARD = Path(__file__).resolve().parent / "samples" / "hf_model_cards" / "sample_simple_model_index.md"


def _system_settings(w: Any, persona: str) -> dict[str, Any]:
    s = w.system
    return {"step": "settings", "s-name": s.name, "s-purpose": s.purpose, "s-vendor": s.vendor,
            "s-model_name": s.model_name, "s-model_version": s.model_version,
            "s-runbook_url": "https://runbooks.example.com/support-copilot"}


def _other_tier(w: Any, persona: str) -> dict[str, Any]:
    tier = "high" if w.request.risk_tier != "high" else "limited"
    return {"step": "tier", "risk_tier": tier, "tier_justification": "Customers read the summaries after all."}


def _waiver_body(w: Any, persona: str) -> dict[str, Any]:
    return {"requirement": "decision-record-accepted", "justification": "The architecture board meets next week.",
            "valid_until": (timezone.now() + timedelta(days=30)).date().isoformat()}


def _import_body(w: Any, persona: str) -> dict[str, Any]:
    return {"format": "huggingface", "file": SimpleUploadedFile("README.md", HF_CARD.read_bytes())}


NEW_PASSWORD = "a fresh passphrase for 2027"


def _login_body(w: Any, persona: str) -> dict[str, Any]:
    return {"username": "requester" if persona == "anon" else persona, "password": PASSWORD}


INCIDENT_HANDLERS = ("requester", "lead", "owner", "risk")  # the system's owners and the governance team


def _incident_body(w: Any, persona: str) -> dict[str, Any]:
    now = timezone.now()
    return {"systems": [w.system.pk], "title": "Summaries quote another customer's ticket",
            "description": "An agent saw text from an unrelated ticket in a summary.", "severity": "high",
            "harm_categories": ["privacy"], "detected_at": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "aware_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}


def _classify_body(w: Any, persona: str) -> dict[str, Any]:
    return {"severity": "critical", "serious_facts": ["health"],
            "aware_at": w.incident.aware_at.strftime("%Y-%m-%dT%H:%M:%S")}


def _report_body(w: Any, persona: str) -> dict[str, Any]:
    return {"complete": "0", "sent_at": timezone.now().strftime("%Y-%m-%dT%H:%M"), "reference": "MSA-1"}


def _evidence_source(w: Any, persona: str) -> dict[str, Any]:
    return {"name": "MLflow staging", "kind": "mlflow", "location": "http://127.0.0.1:9", "experiment": "evals",
            "auth_kind": "none", "enabled": "on"}


def _risk_body(w: Any, persona: str) -> dict[str, Any]:
    return {"title": "Prompt injection through ticket text", "category": "2.2", "owner": w.users["owner"].pk,
            "likelihood": "4", "impact": "5", "treatment": "mitigate",
            "treatment_rationale": "Strip instructions from quoted mail", "residual_likelihood": "2",
            "residual_impact": "5", "review_date": (timezone.now() + timedelta(days=60)).date().isoformat()}


def _acceptance_body(w: Any, persona: str) -> dict[str, Any]:
    return {"valid_until": (timezone.now() + timedelta(days=30)).date().isoformat(),
            "rationale": "Addresses are redacted; what remains is tolerable."}


def _reviews(w: Any) -> int:
    return w.request.reviews.count()


def _webhook_body(w: Any, persona: str) -> dict[str, Any]:
    return {"name": "Chat", "url": "http://127.0.0.1:9/other", "format": "slack", "events": ["gate.blocked"],
            "active": "on", "secret_source": "generate"}


slug = lambda w: {"slug": w.system.slug}  # noqa: E731
hook = lambda w: {"pk": w.webhook.pk}  # noqa: E731
request_pk = lambda w: {"pk": w.request.pk}  # noqa: E731
draft_pk = lambda w: {"pk": w.draft.pk}  # noqa: E731
review_pk = lambda w: {"pk": w.review.pk}  # noqa: E731


def _fresh(obj: Any, field: str) -> Any:
    return type(obj).objects.filter(pk=obj.pk).values_list(field, flat=True).first()


def _oscal_upload() -> dict[str, Any]:
    """A real OSCAL catalog: the shipped ISO/IEC 42001 framework exported, to import under a new id."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from compliance.loader import load_library
    from compliance.oscal import export_json

    catalog = export_json(load_library().frameworks["iso-42001"], timezone.now()).encode()
    return {"catalog": SimpleUploadedFile("catalog.json", catalog, "application/json"), "framework_id": "org-copy",
            "source_url": "https://example.org/catalog.json", "licence": "Ours, internal use"}


# name -> the POST check. Every URL that takes a POST is here; NO_POST lists the rest.
POSTS: dict[str, Post] = {
    # session and platform
    "login": post(None, _login_body, None, acting(LOGGED_IN), 302, anon=302),
    "logout": post(None, {}, None, acting(LOGGED_IN), 302, anon=302),
    # The admin's own password form: no persona is staff, so each gets the form back with the error.
    "admin-login": post(None, _login_body, None, {}, 200, anon=200),
    "password-change": post(
        None, {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        lambda w: sorted(User.objects.values_list("password", flat=True)), acting(LOGGED_IN), 302),
    "notifications-read": post(
        None, {}, lambda w: sorted(Notification.objects.filter(read_at=None).values_list("recipient__username", flat=True)),
        acting(LOGGED_IN), 302),
    "tokens": post(None, {"name": "ci", "scopes": ["gate:check"], "expires_in_days": 30},
                   lambda w: ApiToken.objects.count(), acting(LOGGED_IN, 200), 200),
    "token-revoke": post(lambda w: {"pk": w.token.pk}, {}, lambda w: _fresh(w.token, "revoked_at"),
                         {"owner": 302}, 404),
    # intake
    "request-create": post(None, {"title": "Invoice coding", "problem": "Accounts payable codes invoices by hand.",
                                 "annex_iii_area": "none"},
                           lambda w: UseCaseRequest.objects.count(), acting(LOGGED_IN), 302),
    "request-start": post(None, {"title": "Invoice coding", "problem": "Coded by hand.", "action": "save"},
                          lambda w: UseCaseRequest.objects.count(), acting(LOGGED_IN), 302),
    "request-edit": post(draft_pk, {"title": "Renamed draft", "problem": "Still slow.", "annex_iii_area": "none"},
                         lambda w: _fresh(w.draft, "title"), {"requester": 302}, seen(PORTFOLIO)),
    "request-step": post(lambda w: {"pk": w.draft.pk, "step": "problem"},
                         {"title": "Renamed draft", "problem": "Still slow.", "action": "save"},
                         lambda w: _fresh(w.draft, "title"), {"requester": 302}, seen(PORTFOLIO)),
    "request-submit": post(draft_pk, {}, lambda w: _fresh(w.draft, "status"), {"requester": 302}, seen(PORTFOLIO)),
    "request-withdraw": post(request_pk, {}, lambda w: _fresh(w.request, "status"), {"requester": 302},
                             seen(REQUEST_READER_NAMES)),
    "request-comment": post(request_pk, {"body": "Which regions does this cover?"},
                            lambda w: w.request.comments.count(), acting(REQUEST_READER_NAMES), 404),
    "request-attach": post(request_pk, lambda w, p: {"file": SimpleUploadedFile("more.txt", b"more notes")},
                           lambda w: w.request.attachments.count(), acting(REQUEST_READER_NAMES), 404),
    # triage and reviews
    "triage-detail": post(request_pk, _other_tier, lambda w: _fresh(w.request, "risk_tier"), {"lead": 302}, 403),
    "triage-bulk-reviews": post(None, lambda w, p: {"requests": [w.request.pk], "kinds": ["risk"]}, _reviews,
                                {"lead": 302}, 403),
    "reviews-open": post(request_pk, {"kinds": ["risk"]}, _reviews, {"lead": 302}, 403),
    "queue-assign": post(lambda w: {"kind": "security"},
                         lambda w, p: {"reviews": [w.review.pk], "assignee": w.users["security"].pk},
                         lambda w: _fresh(w.review, "assignee"), {"lead": 302}, 403),
    "review-claim": post(review_pk, {}, lambda w: _fresh(w.review, "assignee"), {"security": 302}, seen(SECURITY_REVIEW_SEERS)),
    "review-decide": post(review_pk, {"decision": "approved", "rationale": "Data stays in the EU tenant."},
                          lambda w: _fresh(w.review, "status"), {"security": 302}, seen(SECURITY_REVIEW_SEERS)),
    "api-review-decision": post(review_pk, {"decision": "approved", "rationale": "Data stays in the EU tenant."},
                                lambda w: _fresh(w.review, "status"), {"security": 200}, seen(SECURITY_REVIEW_SEERS),
                                anon=401, json=True),
    # the system, its documents and evidence
    "system-settings": post(slug, _system_settings, lambda w: _fresh(w.system, "runbook_url"),
                            acting(EDITORS), seen(READERS)),
    "model-card-edit": post(slug, {"model_details": "m", "intended_use": "u", "limitations": "Omits attachments"},
                            lambda w: _fresh(w.card, "limitations"), acting(EDITORS), seen(READERS)),
    "model-card-publish": post(lambda w: {"slug": w.system.slug, "version": w.card.version}, {},
                               lambda w: _fresh(w.card, "status"), acting(EDITORS), seen(READERS)),
    "model-card-import": post(slug, _import_body, lambda w: _fresh(w.card, "source_format"),
                              acting(EDITORS), seen(READERS)),
    "decision-create": post(slug, {"title": "Cap the context window", "context": "Cost", "decision": "8k tokens"},
                            lambda w: DecisionRecord.objects.count(), acting(EDITORS), seen(READERS)),
    "decision-edit": post(lambda w: {"pk": w.record.pk}, {"title": "Use gpt-4o mini", "context": "c", "decision": "d"},
                          lambda w: _fresh(w.record, "title"), acting(EDITORS), seen(READERS)),
    # four eyes: the owner proposed the record, so another editor accepts it
    "decision-decide": post(lambda w: {"pk": w.record.pk}, {"to": "accepted"}, lambda w: _fresh(w.record, "status"),
                            acting(("requester", "lead", "risk")), seen(READERS)),
    "waiver-create": post(slug, _waiver_body, lambda w: Waiver.objects.count(), acting(EDITORS), seen(READERS)),
    "waiver-decide": post(lambda w: {"pk": w.requested_waiver.pk}, {"decision": "approve", "note": ""},
                          lambda w: _fresh(w.requested_waiver, "status"), {"risk": 302}, seen(READERS)),
    "waiver-revoke": post(lambda w: {"pk": w.approved_waiver.pk}, {"note": "Ended early."},
                          lambda w: _fresh(w.approved_waiver, "status"), acting(("lead", "risk")), seen(READERS)),
    "dossier-create": post(slug, {}, lambda w: DocumentExport.objects.count(), acting(READERS), 404),
    "evidence-source-create": post(slug, _evidence_source, lambda w: w.system.evidence_sources.count(),
                                   acting(EDITORS), seen(READERS)),
    "evidence-source-edit": post(lambda w: {"pk": w.source.pk}, _evidence_source, lambda w: _fresh(w.source, "name"),
                                 acting(EDITORS), seen(READERS)),
    "evidence-source-sync": post(lambda w: {"pk": w.idle_source.pk}, {}, lambda w: w.idle_source.runs.count(),
                                 acting(EDITORS), seen(READERS)),
    "metric-requirements": post(slug, {"step": "requirement", "r-metric": "f1", "r-threshold": "0.7"},
                                lambda w: w.system.metric_requirements.count(), acting(EDITORS), seen(READERS)),
    "metric-requirement-delete": post(lambda w: {"slug": w.system.slug, "pk": w.requirement.pk}, {},
                                      lambda w: w.system.metric_requirements.count(), acting(EDITORS), seen(READERS)),
    # compliance
    "compliance-attest": post(slug, lambda w, p: {"control": "eu-ai-act/art-4",
                                                  "statement": "Everyone took the AI literacy course.",
                                                  "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat()},
                              lambda w: Attestation.objects.count(), acting(EDITORS), seen(READERS)),
    "compliance-profile": post(slug, {"role": "deployer", "gpai_model": "none"},
                               lambda w: OperatorProfile.objects.values_list("role", flat=True).first(),
                               acting(EDITORS), seen(READERS)),
    "compliance-framework-import": post(None, lambda w, p: _oscal_upload(), lambda w: FrameworkImport.objects.count(),
                                        acting(("lead",)), 403),
    # registers
    "dataset-create": post(None, {"name": "claims-2025", "source": "Claims system", "classification": "internal"},
                           lambda w: Dataset.objects.count(), acting(("lead", "owner", "risk")), 403),
    "dataset-edit": post(lambda w: {"pk": w.dataset.pk},
                         {"name": "tickets", "source": "Zendesk export", "classification": "internal"},
                         lambda w: _fresh(w.dataset, "source"), acting(("lead", "owner", "risk")), seen(READERS)),
    "vendor-create": post(None, {"name": "Mistral AI", "dpa_status": "signed"}, lambda w: Vendor.objects.count(),
                          acting(("lead", "owner", "risk")), 403),
    "vendor-edit": post(lambda w: {"pk": w.vendor.pk}, {"name": "Azure OpenAI", "data_residency": "EU", "dpa_status": "signed"},
                        lambda w: _fresh(w.vendor, "data_residency"), acting(("lead", "owner", "risk")), 403),
    # the risk register
    "risk-create": post(slug, _risk_body, lambda w: Risk.objects.count(), acting(EDITORS), seen(READERS)),
    "risk-edit": post(lambda w: {"pk": w.risk.pk}, _risk_body, lambda w: _fresh(w.risk, "title"), acting(EDITORS),
                      seen(READERS)),
    "risk-accept": post(lambda w: {"pk": w.risk.pk, "slug": w.system.slug}, _acceptance_body,
                        lambda w: RiskAcceptance.objects.count(), {"risk": 302}, seen(READERS)),
    # outgoing webhooks: no persona is an administrator, so every POST is refused and changes nothing
    "webhook-create": post(None, _webhook_body, lambda w: Webhook.objects.count(), {}, 403),
    "webhook-edit": post(hook, _webhook_body, lambda w: _fresh(w.webhook, "name"), {}, 404),
    "webhook-rotate": post(hook, {}, lambda w: _fresh(w.webhook, "secret_encrypted"), {}, 404),
    "webhook-delete": post(hook, {}, lambda w: Webhook.objects.count(), {}, 404),
    "webhook-test": post(hook, {}, lambda w: Delivery.objects.count(), {}, 404),
    "delivery-redeliver": post(lambda w: {"pk": w.delivery.pk}, {}, lambda w: _fresh(w.delivery, "status"), {}, 404),
    # the incident register
    "incident-create": post(None, _incident_body, lambda w: Incident.objects.count(), acting(READERS), 400),
    "incident-move": post(lambda w: {"pk": w.incident.pk}, {"to": "investigating", "expected": "triage"},
                          lambda w: _fresh(w.incident, "status"), acting(INCIDENT_HANDLERS), {"auditor": 403}),
    "incident-classify": post(lambda w: {"pk": w.incident.pk}, _classify_body, lambda w: _fresh(w.incident, "severity"),
                              acting(INCIDENT_HANDLERS), {"auditor": 403}),
    "incident-report": post(lambda w: {"pk": w.incident.pk}, _report_body,
                            lambda w: _fresh(w.incident, "report_status"), acting(INCIDENT_HANDLERS), {"auditor": 403}),
    # the incident register's API: anyone who sees the system reports on it (an outsider names a
    # system they cannot see: 400 naming the field)
    "api-incident-list": post(None, lambda w, p: API_INCIDENT, lambda w: Incident.objects.count(), acting(READERS, 201),
                              400, anon=401, json=True),
    # the gate, with a session (tokens are checked below)
    "api-gate-checks": post(None, lambda w, p: {"system": w.system.slug, "environment": "production"},
                            lambda w: GateCheck.objects.count(), acting(READERS, 200), 404, anon=401, json=True),
    # SCIM creates nothing for a session, however privileged.
    "scim-users": post(None, {"userName": "mallory"}, lambda w: User.objects.count(), {}, 401, anon=401, json=True),
    "scim-groups": post(None, {"displayName": "Admins"}, lambda w: ScimGroup.objects.count(), {}, 401, anon=401,
                        json=True),
}

# Every other URL only reads: a POST there is refused (405) or answered like a GET.
NO_POST = {
    "home", "sso-start", "sso-callback", "password-change-done", "notifications", "request-list", "request-detail", "attachment-download", "triage-board",
    "triage-agenda", "queue", "review-detail", "portfolio", "dashboard", "audit-trail", "audit-trail-csv", "system-list", "system-detail",
    "model-card-detail", "system-evidence", "evidence-source-detail", "sync-run-detail", "sync-run-progress",
    "evidence-portfolio", "system-compliance", "compliance-coverage", "compliance-csv", "compliance-framework-oscal", "model-card-compare", "model-card-export", "decision-detail", "decision-pdf",
    "model-card-pdf", "export-detail", "export-progress", "export-download", "dataset-list", "dataset-detail",
    "vendor-list", "vendor-detail", "ownership-gaps", "search", "api-gate-client", "api-policy-schema", "gate-keys", "api-schema",
    "api-docs", "api-root", "api-system-list", "api-system-detail", "api-request-list", "api-request-detail",
    "api-framework-list", "api-framework-detail", "api-framework-controls", "api-system-compliance",
    "api-review-list", "api-review-detail", "risk-portfolio", "system-risks",
    "scim-users-search", "scim-user-detail", "scim-groups-search", "scim-group-detail", "scim-service-provider-config",
    "scim-resource-types", "scim-resource-type", "scim-schemas", "scim-schema",
    "webhook-list", "webhook-detail",
    "healthz", "readyz", "metrics",
    "incident-list", "incident-detail", "system-incidents", "api-incident-detail",
}


class World:
    """The GET world plus what the POST checks act on: a draft, an idle source, waivers, notifications."""

    def __init__(self, request_in_review: Any, personas: dict[str, Any], kwargs: dict[str, dict[str, Any]]) -> None:
        self.users = personas
        self.request = request_in_review
        self.system = request_in_review.system
        self.review = Review.objects.get(pk=kwargs["review-detail"]["pk"])
        self.record = DecisionRecord.objects.get(pk=kwargs["decision-detail"]["pk"])
        self.card = self.system.model_cards.get(version=kwargs["model-card-detail"]["version"])
        self.token = ApiToken.objects.get(pk=kwargs["token-revoke"]["pk"])
        self.source = EvidenceSource.objects.get(pk=kwargs["evidence-source-detail"]["pk"])
        self.requirement = MetricRequirement.objects.get(pk=kwargs["metric-requirement-delete"]["pk"])
        self.dataset = Dataset.objects.get(pk=kwargs["dataset-detail"]["pk"])
        self.vendor = Vendor.objects.get(pk=kwargs["vendor-detail"]["pk"])
        self.risk = Risk.objects.get(pk=kwargs["risk-edit"]["pk"])
        self.webhook = Webhook.objects.get(pk=kwargs["webhook-detail"]["pk"])
        self.delivery = Delivery.objects.get(pk=kwargs["delivery-redeliver"]["pk"])
        self.incident = Incident.objects.get(pk=kwargs["incident-detail"]["pk"])
        owner, risk = personas["owner"], personas["risk"]
        self.draft = intake.request_create_draft(requester=personas["requester"], **answers(title="Invoice coding"))
        self.idle_source = source_create(actor=owner, system=self.system, kind="mlflow", name="MLflow nightly",
                                         location="http://127.0.0.1:9", experiment="nightly")
        self.requested_waiver = waiver_request(actor=owner, system=self.system, requirement="runbook-linked",
                                               justification="The runbook moves to the new wiki this sprint.",
                                               expires_at=timezone.now() + timedelta(days=20))
        self.approved_waiver = waiver_request(actor=owner, system=self.system, requirement="evaluation-threshold",
                                              justification="The new eval set lands with the next model release.",
                                              expires_at=timezone.now() + timedelta(days=20))
        waiver_decide(actor=risk, waiver=self.approved_waiver, approve=True)
        notify(recipients=list(personas.values()), subject="Welcome", body="Hello.")


@pytest.fixture
def post_world(world, request_in_review, personas) -> World:
    return World(request_in_review, personas, world)


def test_every_url_pattern_says_whether_it_takes_a_post():
    assert not set(POSTS) & NO_POST
    assert set(POSTS) | NO_POST == set(url_names())
    only_post = {name for name, expected in MATRIX.items() if expected["lead"] == 405}
    assert only_post <= set(POSTS), f"POST-only URLs without a POST check: {sorted(only_post - set(POSTS))}"


@pytest.mark.django_db
def test_read_only_urls_write_nothing_more_on_post(client, world, personas):
    """A URL listed as read-only answers a POST with 405, or exactly as it answers a GET (the PDF
    pages record the export either way): no write path hides behind it."""
    client.force_login(personas["lead"])
    failures = []
    for name in sorted(NO_POST):
        url = reverse(name, kwargs=world.get(name, {}))
        replies = {}
        for method in ("get", "post"):
            sid = transaction.savepoint()
            try:
                events = AuditEvent.objects.count()
                status = getattr(client, method)(url).status_code
                replies[method] = (status, AuditEvent.objects.count() - events)
            finally:
                transaction.savepoint_rollback(sid)
        if replies["post"] != replies["get"] and replies["post"] != (405, 0):
            failures.append(f"{name} {url}: GET {replies['get']}, POST {replies['post']} (status, audit events)")
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_post_matrix(client, post_world, personas, persona, settings):
    failures = []
    for name, check in POSTS.items():
        url = reverse(name, kwargs=check.kwargs(post_world))
        sid = transaction.savepoint()
        try:
            client.logout()
            if persona != "anon":
                client.force_login(personas[persona])
            before = check.state(post_world) if check.state else None
            events = AuditEvent.objects.count()
            body = check.body(post_world, persona)
            if check.json:
                response = client.post(url, data=json.dumps(body), content_type="application/json")
            else:
                response = client.post(url, body)
            after = check.state(post_world) if check.state else None
            status = response.status_code
            problem = ""
            if status != check.expect[persona]:
                problem = f"got {status}, expected {check.expect[persona]}"
            elif persona == "anon" and status == 302 and name not in ("login", "logout"):
                if not response["Location"].startswith(reverse(settings.LOGIN_URL)):
                    problem = f"redirected to {response['Location']}, not to the login page"
            if check.state is not None:
                if persona in check.acts and after == before:
                    problem += f" allowed but changed nothing ({before!r})"
                if persona not in check.acts and (after != before or AuditEvent.objects.count() != events):
                    problem += f" refused yet changed {before!r} -> {after!r}, audit +{AuditEvent.objects.count() - events}"
            if problem:
                failures.append(f"{name} {url}: {problem.strip()}")
        finally:
            transaction.savepoint_rollback(sid)
    assert not failures, f"{persona}:\n" + "\n".join(failures)


# --- API writes with a token that lacks the scope ---------------------------------------------------

DECISION = {"decision": "approved", "rationale": "Data stays in the EU tenant."}
API_INCIDENT = {"systems": ["support-copilot"], "title": "Summary quoted another customer",
                "description": "Two sentences of an unrelated ticket appeared in a summary.", "severity": "medium",
                "detected_at": "2026-01-05T09:00:00Z", "aware_at": "2026-01-05T10:00:00Z"}
GATE = {"environment": "production"}

# (method, path, body, the scope it needs, the status with that scope). The read-only collections
# refuse their write methods (405), but only once the token's scope is checked: the 403 comes first.
API_WRITES: list[tuple[str, str, dict[str, Any], str, int]] = [
    ("post", "/api/v1/gate/checks", GATE, "gate:check", 200),
    ("post", "/api/v1/reviews/{review}/decision/", DECISION, "write", 200),
    ("post", "/api/v1/incidents/", API_INCIDENT, "write", 201),
    *[(method, "/api/v1/incidents/{incident}/", {}, "write", 405) for method in ("put", "patch", "delete")],
    *[("post", path, {}, "write", 405) for path in ("/api/v1/systems/", "/api/v1/requests/", "/api/v1/reviews/")],
    *[(method, path, {}, "write", 405)
      for path in ("/api/v1/systems/{system}/", "/api/v1/requests/{request}/", "/api/v1/reviews/{review}/")
      for method in ("put", "patch", "delete")],
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "scope", "granted"), API_WRITES,
                         ids=[f"{m.upper()} {p}" for m, p, *_ in API_WRITES])
def test_api_write_with_a_token_lacking_the_scope_is_refused_and_changes_nothing(
        client, request_in_review, personas, method, path, body, scope, granted):
    review = Review.objects.get(request=request_in_review, kind="security")
    system = request_in_review.system
    incident = open_incident(personas["owner"], system)
    url = path.format(review=review.pk, system=system.slug, request=request_in_review.pk, incident=incident.pk)
    payload = json.dumps({**body, "system": system.slug} if body is GATE else body)

    def call(scopes: list[str]) -> Any:
        token = api_token_create(user=personas["security"], name=" ".join(scopes), scopes=scopes).plaintext
        return getattr(client, method)(url, data=payload, content_type="application/json",
                                       HTTP_AUTHORIZATION=f"Bearer {token}")

    def state() -> tuple[Any, ...]:
        return (Review.objects.filter(pk=review.pk).values_list("status", "assignee", "rationale").get(),
                GateCheck.objects.count(), Incident.objects.count(),
                AuditEvent.objects.exclude(action="api_token.created").count())

    before = state()
    for scopes in ([s for s in ("gate:check", "read", "write") if s != scope], ["read"]):
        response = call(scopes)
        assert response.status_code == 403, (scopes, response.content)
        assert response.json()["error"]["code"] == "permission_denied"
        assert f"'{scope}' scope" in response.json()["error"]["message"]
        assert state() == before
    # The same call with the scope: the refusal above was the scope's doing, not the body's.
    assert call([scope]).status_code == granted


@pytest.mark.django_db
def test_marking_notifications_read_touches_only_your_own(client, post_world, personas):
    client.force_login(personas["legal"])
    assert client.post(reverse("notifications-read")).status_code == 302
    unread = set(Notification.objects.filter(read_at=None).values_list("recipient__username", flat=True))
    assert "legal" not in unread and unread >= set(personas) - {"legal"}


# --- the administrator (a role no persona above holds) -------------------------------------------

WEBHOOK_ADMIN_GETS = {"webhook-list": 200, "webhook-create": 200, "webhook-detail": 200, "webhook-edit": 200,
                      "webhook-rotate": 405, "webhook-delete": 405, "webhook-test": 405, "delivery-redeliver": 405}


@pytest.mark.django_db
def test_webhook_pages_for_an_administrator(client, post_world, world):
    """The webhook rows of the matrix as the administrator sees them: every page opens and every POST
    goes through and changes what it is for (each in a savepoint, like the POST matrix)."""
    assert set(WEBHOOK_ADMIN_GETS) == {name for name in MATRIX if name.startswith(("webhook-", "delivery-"))}
    admin = User.objects.get(username="webhook-admin")
    client.force_login(admin)
    for name, expected in WEBHOOK_ADMIN_GETS.items():
        assert client.get(reverse(name, kwargs=world.get(name, {}))).status_code == expected, name
    acting_status = {"webhook-create": 200, "webhook-rotate": 200}
    for name in [n for n in WEBHOOK_ADMIN_GETS if n not in NO_POST]:
        check = POSTS[name]
        sid = transaction.savepoint()
        try:
            before, events = check.state(post_world), AuditEvent.objects.count()
            response = client.post(reverse(name, kwargs=check.kwargs(post_world)), check.body(post_world, "admin"))
            assert response.status_code == acting_status.get(name, 302), (name, response.status_code)
            assert check.state(post_world) != before, f"{name} changed nothing"
            assert AuditEvent.objects.count() > events, f"{name} was not audited"
        finally:
            transaction.savepoint_rollback(sid)
