"""Every URL pattern × every persona, for GET (the POST half is tests/test_permission_posts.py). A
new URL that is not listed in both fails the suite, so no endpoint can escape the questions "who may
see this?" and "who may do this?"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from catalog.services.cards import model_card_draft
from catalog.services.evidence import metric_requirement_set, source_create, sync_request
from catalog.services.registers import dataset_save, vendor_save
from clearance.roles import Role
from clearance.tokens import api_token_create
from governance.models import Review
from governance.services import exports
from governance.services.decisions import decision_record_propose
from intake import services as intake
from integrations.choices import EventKind
from integrations.events import emit
from integrations.models import Delivery, Webhook
from integrations.services import webhook_create
from risks.services import RiskInput, risk_create
from tests.risks.incident_helpers import open_incident

# The sources in these scenarios point at 127.0.0.1, which only an explicit allowance lets through.
pytestmark = pytest.mark.usefixtures("local_evidence_hosts")

# "owner" is the system's technical owner, "risk" its risk owner (who alone approves its waivers).
PERSONAS = ["anon", "requester", "security", "legal", "lead", "owner", "risk", "auditor", "outsider"]
LOGGED_IN = [p for p in PERSONAS if p != "anon"]


def everyone(status: int, anon: int = 302) -> dict[str, int]:
    return {p: (anon if p == "anon" else status) for p in PERSONAS}


def only(allowed: dict[str, int], others: int, anon: int = 302) -> dict[str, int]:
    return {p: (anon if p == "anon" else allowed.get(p, others)) for p in PERSONAS}


# The system's owners read the request it came from (they answer for what was asked and decided there).
REQUEST_READERS = {"requester": 200, "security": 200, "legal": 200, "lead": 200, "auditor": 200, "owner": 200,
                   "risk": 200}
SYSTEM_READERS = {"requester": 200, "security": 200, "legal": 200, "lead": 200, "owner": 200, "risk": 200,
                  "auditor": 200}
SYSTEM_EDITORS = {"requester": 200, "lead": 200, "owner": 200, "risk": 200}  # the requester is the business owner
SECURITY_REVIEW_READERS = {"requester": 200, "security": 200, "lead": 200, "owner": 200, "risk": 200, "auditor": 200}
REGISTER_EDITORS = {"lead": 200, "owner": 200, "risk": 200}  # the governance team and system owners
# The world's incident is reported by "owner"; the requester is the system's business owner.
INCIDENT_READERS = {"requester": 200, "lead": 200, "owner": 200, "risk": 200, "auditor": 200}

# name -> (kwargs builder key, expected status per persona). POST-only views answer 405 to GET.
MATRIX: dict[str, dict[str, int]] = {
    "home": everyone(200),
    "login": everyone(200, anon=200),
    "logout": everyone(405, anon=405),
    # Single sign-on, not configured here: both send everyone back to the login page with a message.
    "sso-start": everyone(302, anon=302),
    "sso-callback": everyone(302, anon=302),
    "admin-login": everyone(200, anon=200),
    "password-change": everyone(200),
    "password-change-done": everyone(200),
    "notifications": everyone(200),
    "notifications-read": everyone(405),
    "tokens": everyone(200),
    "token-revoke": everyone(405),
    "request-list": everyone(200),
    "request-create": everyone(200),
    "request-detail": only(REQUEST_READERS, 404),
    "request-edit": only({p: 403 for p in REQUEST_READERS}, 404),
    "request-start": everyone(200),
    "request-comment": everyone(405),
    "request-attach": everyone(405),
    "attachment-download": only(REQUEST_READERS, 404),
    "request-step": only({p: 403 for p in REQUEST_READERS}, 404),
    "request-submit": everyone(405),
    "request-withdraw": everyone(405),
    "triage-board": only({"lead": 200}, 403),
    "triage-detail": only({"lead": 200}, 403),
    "triage-bulk-reviews": everyone(405),
    "triage-agenda": only({"lead": 200}, 403),
    "queue-assign": everyone(405),
    "reviews-open": everyone(405),
    "queue": only({"security": 200, "lead": 200, "auditor": 200}, 403),
    "review-detail": only(SECURITY_REVIEW_READERS, 404),
    "review-claim": everyone(405),
    "review-decide": everyone(405),
    "portfolio": everyone(200),
    "audit-trail": only({"lead": 200, "auditor": 200}, 403),
    "dashboard": only({"lead": 200, "auditor": 200}, 403),
    "audit-trail-csv": only({"lead": 200, "auditor": 200}, 403),
    "decision-decide": everyone(405),
    "system-list": everyone(200),
    "system-detail": only(SYSTEM_READERS, 404),
    "system-settings": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "model-card-edit": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "model-card-detail": only(SYSTEM_READERS, 404),
    "model-card-publish": everyone(405),
    "decision-create": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "system-evidence": only(SYSTEM_READERS, 404),
    "evidence-source-create": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "metric-requirements": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "metric-requirement-delete": everyone(405),
    "evidence-source-detail": only(SYSTEM_READERS, 404),
    "evidence-source-edit": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "evidence-source-sync": everyone(405),
    "sync-run-detail": only(SYSTEM_READERS, 404),
    "sync-run-progress": only(SYSTEM_READERS, 404),
    "evidence-portfolio": everyone(200),
    # compliance
    "system-compliance": only(SYSTEM_READERS, 404),
    "compliance-attest": everyone(405),
    "compliance-profile": everyone(405),
    "compliance-coverage": everyone(200),
    "compliance-csv": everyone(200),
    "compliance-framework-import": only({"lead": 200}, 403),
    "compliance-framework-oscal": everyone(200),
    # catalog documents
    "model-card-import": everyone(405),
    "model-card-compare": only(SYSTEM_READERS, 404),
    "model-card-export": only(SYSTEM_READERS, 404),
    "decision-detail": only(SYSTEM_READERS, 404),
    "decision-edit": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "decision-pdf": only(SYSTEM_READERS, 404),
    "model-card-pdf": only(SYSTEM_READERS, 404),
    "dossier-create": everyone(405),
    "export-detail": only(SYSTEM_READERS, 404),
    "export-progress": only(SYSTEM_READERS, 404),
    "export-download": only(SYSTEM_READERS, 404),
    "dataset-list": everyone(200),
    "dataset-create": only(REGISTER_EDITORS, 403),
    "dataset-detail": only(SYSTEM_READERS, 404),
    "dataset-edit": only({**{p: 403 for p in SYSTEM_READERS}, **REGISTER_EDITORS}, 404),
    "vendor-list": everyone(200),
    "vendor-create": only(REGISTER_EDITORS, 403),
    "vendor-detail": everyone(200),
    "vendor-edit": only(REGISTER_EDITORS, 403),
    "ownership-gaps": everyone(200),
    "search": everyone(200),
    "api-gate-checks": everyone(200, anon=401),
    "api-gate-client": everyone(200, anon=200),
    "api-policy-schema": everyone(200, anon=200),
    "gate-keys": everyone(200, anon=200),
    # Probes for load balancers: no login. Metrics: closed (404) while neither METRICS_TOKEN nor
    # METRICS_ALLOWED_NETWORKS is set and DEBUG is off, whoever is signed in.
    "healthz": everyone(200, anon=200),
    "readyz": everyone(200, anon=200),
    "metrics": everyone(404, anon=404),
    "waiver-create": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "waiver-decide": everyone(405),
    "waiver-revoke": everyone(405),
    "api-schema": everyone(200, anon=401),
    "api-docs": everyone(200, anon=401),
    "api-root": everyone(200, anon=401),
    "api-system-list": everyone(200, anon=401),
    "api-system-detail": only(SYSTEM_READERS, 404, anon=401),
    "api-request-list": everyone(200, anon=401),
    "api-request-detail": only(REQUEST_READERS, 404, anon=401),
    "api-review-list": everyone(200, anon=401),
    "api-review-detail": only(SECURITY_REVIEW_READERS, 404, anon=401),
    "api-framework-list": everyone(200, anon=401),
    "api-framework-detail": everyone(200, anon=401),
    "api-framework-controls": everyone(200, anon=401),
    "api-system-compliance": only(SYSTEM_READERS, 404, anon=401),
    # DRF refuses the method before it looks the object up, so a hidden review reveals nothing.
    "api-review-decision": everyone(405, anon=401),
    # the risk register: readers of the system see its risks; its editors record them; its risk
    # owner alone accepts a residual risk for it
    "risk-portfolio": everyone(200),
    "system-risks": only(SYSTEM_READERS, 404),
    "risk-create": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "risk-edit": only({**{p: 403 for p in SYSTEM_READERS}, **SYSTEM_EDITORS}, 404),
    "risk-accept": only({**{p: 403 for p in SYSTEM_READERS}, "risk": 200}, 404),
    # SCIM provisioning answers only an identity provider's token (tests/provisioning/): a session is
    # nobody there, whoever it belongs to.
    **{name: everyone(401, anon=401) for name in (
        "scim-users", "scim-users-search", "scim-user-detail", "scim-groups", "scim-groups-search",
        "scim-group-detail", "scim-service-provider-config", "scim-resource-types", "scim-resource-type",
        "scim-schemas", "scim-schema")},
    # outgoing webhooks: administrators only (none of these personas; see
    # test_webhook_pages_for_an_administrator); a webhook or delivery is hidden (404) from everyone else
    "webhook-list": everyone(403),
    "webhook-create": everyone(403),
    "webhook-detail": everyone(404),
    "webhook-edit": everyone(404),
    "webhook-rotate": everyone(405),
    "webhook-delete": everyone(405),
    "webhook-test": everyone(405),
    "delivery-redeliver": everyone(405),
    # the incident register: anyone reports on a system they see; an incident is read by the portfolio
    # readers, its systems' owners and its reporter, and handled by the owners and the governance team
    "incident-list": everyone(200),
    "incident-create": everyone(200),
    "incident-detail": only(INCIDENT_READERS, 404),
    "incident-move": everyone(405),
    "incident-classify": everyone(405),
    "incident-report": everyone(405),
    "system-incidents": only(SYSTEM_READERS, 404),
    "api-incident-list": everyone(200, anon=401),
    "api-incident-detail": only(INCIDENT_READERS, 404, anon=401),
}


def url_names() -> dict[str, str]:
    """Every named pattern outside the admin site, with its route."""
    found: dict[str, str] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.app_name == "admin":
                    continue
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                assert p.name, f"unnamed URL pattern {prefix}{p.pattern} cannot be checked"
                found[p.name] = prefix + str(p.pattern)

    walk(get_resolver().url_patterns, "")
    return found


def test_every_url_pattern_is_in_the_matrix():
    assert set(url_names()) == set(MATRIX)


def _evidence_world(system: Any, personas: dict[str, Any]) -> tuple[Any, Any, Any]:

    source = source_create(actor=personas["owner"], system=system, kind="mlflow", name="MLflow",
                                    location="http://127.0.0.1:9", experiment="evals")
    requirement = metric_requirement_set(actor=personas["owner"], system=system, metric="acc", threshold=0.5)
    run, _ = sync_request(actor=personas["owner"], source=source)
    return source, requirement, run


def _webhook_world(settings: Any) -> tuple[Webhook, Delivery]:
    """A webhook registered by an administrator (no persona is one) with one failed delivery."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    admin = User.objects.create_user(username="webhook-admin")
    admin.groups.add(Group.objects.get_or_create(name=Role.ADMIN.value)[0])
    webhook = webhook_create(actor=admin, name="Ops", url="http://127.0.0.1:9/hook", format="generic",
                             events=["review.decided"]).webhook
    emit(kind=EventKind.REVIEW_DECIDED, subject=webhook, summary="x")
    delivery = Delivery.objects.get(webhook=webhook)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)
    return webhook, delivery


@pytest.fixture
def world(request_in_review, personas, settings, tmp_path) -> dict[str, dict[str, Any]]:
    settings.ATTACHMENT_DIR = tmp_path / "attachments"
    system = request_in_review.system
    card = model_card_draft(actor=personas["owner"], system=system, model_details="m",
                                    intended_use="u", limitations="l")
    record = decision_record_propose(actor=personas["owner"], system=system, title="Use gpt-4o",
                                     context="c", decision="d")
    attachment = intake.request_attach(actor=personas["requester"], request=request_in_review,
                                       upload=SimpleUploadedFile("notes.txt", b"notes"))
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).token
    settings.EXPORT_DIR = tmp_path / "exports"
    export = exports.export_run(export_id=exports.export_request(
        actor=personas["owner"], system=system, kind="model_card", object_id=card.pk).pk)
    dataset = dataset_save(actor=personas["lead"], systems=[system], name="tickets", source="Zendesk",
                           classification="internal")
    vendor = vendor_save(actor=personas["lead"], systems=[system], name="Azure OpenAI")
    source, requirement, run = _evidence_world(system, personas)
    review = Review.objects.get(request=request_in_review, kind="security")
    risk = risk_create(actor=personas["lead"], systems=[system], data=RiskInput(
        title="Summaries leak customer addresses", category="2.1", owner=personas["risk"], likelihood=4, impact=4,
        review_date=(timezone.now() + timedelta(days=90)).date(), treatment="mitigate",
        treatment_rationale="Redact addresses before the model sees them", residual_likelihood=3, residual_impact=3))
    incident = open_incident(personas["owner"], system, serious_facts=["health"])
    req = {"pk": request_in_review.pk}
    webhook, delivery = _webhook_world(settings)
    hook_pk = {"pk": webhook.pk}
    return {
        "webhook-detail": hook_pk, "webhook-edit": hook_pk, "webhook-rotate": hook_pk, "webhook-delete": hook_pk,
        "webhook-test": hook_pk, "delivery-redeliver": {"pk": delivery.pk},
        "token-revoke": {"pk": token.pk},
        "request-comment": req, "request-attach": req, "attachment-download": {"pk": attachment.pk},
        "request-detail": req, "request-edit": req, "request-step": {**req, "step": "problem"}, "request-submit": req, "request-withdraw": req,
        "triage-detail": req, "reviews-open": req,
        "queue": {"kind": "security"}, "queue-assign": {"kind": "security"},
        "review-detail": {"pk": review.pk}, "review-claim": {"pk": review.pk}, "review-decide": {"pk": review.pk},
        "decision-decide": {"pk": record.pk},
        "waiver-create": {"slug": system.slug}, "waiver-decide": {"pk": 1}, "waiver-revoke": {"pk": 1},
        "system-detail": {"slug": system.slug}, "system-settings": {"slug": system.slug},
        "model-card-edit": {"slug": system.slug}, "decision-create": {"slug": system.slug},
        "model-card-detail": {"slug": system.slug, "version": card.version},
        "model-card-publish": {"slug": system.slug, "version": card.version},
        "api-system-detail": {"slug": system.slug}, "api-system-compliance": {"slug": system.slug},
        "api-framework-detail": {"framework_id": "eu-ai-act"}, "api-framework-controls": {"framework_id": "eu-ai-act"},
        "system-evidence": {"slug": system.slug}, "evidence-source-create": {"slug": system.slug},
        "system-compliance": {"slug": system.slug}, "compliance-attest": {"slug": system.slug},
        "compliance-profile": {"slug": system.slug}, "compliance-framework-oscal": {"framework_id": "eu-ai-act"},
        "metric-requirements": {"slug": system.slug},
        "metric-requirement-delete": {"slug": system.slug, "pk": requirement.pk},
        "evidence-source-detail": {"pk": source.pk}, "evidence-source-edit": {"pk": source.pk},
        "evidence-source-sync": {"pk": source.pk}, "sync-run-detail": {"pk": run.pk},
        "sync-run-progress": {"pk": run.pk},
        "model-card-import": {"slug": system.slug}, "model-card-compare": {"slug": system.slug},
        "model-card-export": {"slug": system.slug, "version": card.version, "fmt": "huggingface"},
        "decision-detail": {"pk": record.pk}, "decision-edit": {"pk": record.pk},
        "decision-pdf": {"pk": record.pk}, "model-card-pdf": {"slug": system.slug, "version": card.version},
        "dossier-create": {"slug": system.slug},
        "export-detail": {"pk": export.pk}, "export-progress": {"pk": export.pk}, "export-download": {"pk": export.pk},
        "dataset-detail": {"pk": dataset.pk}, "dataset-edit": {"pk": dataset.pk},
        "vendor-detail": {"pk": vendor.pk}, "vendor-edit": {"pk": vendor.pk},
        "api-request-detail": {"pk": request_in_review.pk},
        "api-review-detail": {"pk": review.pk}, "api-review-decision": {"pk": review.pk},
        "system-risks": {"slug": system.slug}, "risk-create": {"slug": system.slug}, "risk-edit": {"pk": risk.pk},
        "risk-accept": {"pk": risk.pk, "slug": system.slug},
        "scim-user-detail": {"uuid": str(personas["owner"].pk)},
        "scim-group-detail": {"uuid": "6f1c1d2e-0000-4000-8000-000000000001"},
        "scim-resource-type": {"uuid": "User"}, "scim-schema": {"uuid": "urn:ietf:params:scim:schemas:core:2.0:User"},
        "incident-detail": {"pk": incident.pk}, "incident-move": {"pk": incident.pk},
        "incident-classify": {"pk": incident.pk}, "incident-report": {"pk": incident.pk},
        "system-incidents": {"slug": system.slug}, "api-incident-detail": {"pk": incident.pk},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(client, world, personas, persona):

    if persona != "anon":
        client.force_login(personas[persona])
    failures = []
    for name, expected in MATRIX.items():
        url = reverse(name, kwargs=world.get(name, {}))
        status = client.get(url).status_code
        if status != expected[persona]:
            failures.append(f"{name} {url}: got {status}, expected {expected[persona]}")
    assert not failures, f"{persona}:\n" + "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["outsider", "legal"])
def test_hidden_objects_answer_json_404_in_the_api(client, world, personas, persona):
    client.force_login(personas[persona])
    response = client.get(f"/api/v1/reviews/{world['review-detail']['pk']}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_admin_is_for_staff_only(client, personas):
    for name in LOGGED_IN:
        client.force_login(personas[name])
        assert client.get("/admin/").status_code == 302


# --- POST ---------------------------------------------------------------------------------------
