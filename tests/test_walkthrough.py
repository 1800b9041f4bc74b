"""The core story, through the web pages as people use them: request → triage →
reviews → system → readiness → gate."""

from __future__ import annotations

import json

import pytest

from catalog.services.cards import model_card_draft
from clearance.tokens import api_token_create
from governance.models import Review
from intake.models import UseCaseRequest

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def test_request_to_gate_through_the_pages(client, personas):
    # 2. The requester saves a draft with an error, fixes it, submits.
    login(client, personas["requester"])
    page = client.post("/requests/new/", {"title": "", "problem": "p", "submit": "1"})
    assert page.status_code == 200
    assert "Title: This field is required." in page.content.decode()
    form = {
        "title": "Support ticket summaries", "problem": "Agents read long threads.",
        "business_outcome": "Handling time 14 → 10 min.", "why_ai": "Free text.",
        "alternatives_considered": ["rules"], "data_categories": ["personal"], "annex_iii_area": "none",
        "human_in_the_loop": "on", "vendor_model": "gpt-4o", "save": "1",
    }
    response = client.post("/requests/new/", {**form, "why_ai": ""})
    req = UseCaseRequest.objects.get()
    assert response.url == f"/requests/{req.pk}/" and req.status == "draft"
    response = client.post(f"/requests/{req.pk}/submit/", follow=True)
    assert "why ai?: this answer is needed before the request goes to triage" in response.content.decode().lower()
    client.post(f"/requests/{req.pk}/edit/", {**form, "submit": "1"})
    req.refresh_from_db()
    assert req.status == "submitted"

    # 3. The lead triages: tier, owners, reviews, system.
    login(client, personas["lead"])
    assert req.title in client.get("/triage/").content.decode()
    client.post(f"/triage/{req.pk}/", {"step": "start"})
    response = client.post(f"/triage/{req.pk}/", {"step": "tier", "risk_tier": "high", "tier_justification": ""})
    assert "needs a justification" in response.content.decode()
    client.post(f"/triage/{req.pk}/", {"step": "tier", "risk_tier": req.suggested_tier})
    client.post(f"/triage/{req.pk}/", {"step": "owners", "business": personas["requester"].pk,
                                       "technical": personas["owner"].pk, "risk": personas["risk"].pk})
    client.post(f"/triage/{req.pk}/reviews/", {"kinds": ["security", "legal", "privacy"]})
    client.post(f"/triage/{req.pk}/", {"step": "system", "slug": "support-copilot", "name": ""})
    req.refresh_from_db()
    assert req.status == "in_review" and req.system.slug == "support-copilot"
    assert req.system.risk_owner == personas["risk"]

    # 4. Each reviewer sees it in their own queue and decides.
    for kind in ("security", "legal", "privacy"):
        login(client, personas[kind])
        queue = client.get(f"/reviews/queue/{kind}/").content.decode()
        assert req.title in queue and "Due" in queue
        review = Review.objects.get(request=req, kind=kind)
        response = client.post(f"/reviews/{review.pk}/decide/", {"decision": "approved", "rationale": ""})
        assert response.status_code == 400 and "This field is required" in response.content.decode()
        client.post(f"/reviews/{review.pk}/decide/", {"decision": "approved", "rationale": f"{kind} ok"})
    req.refresh_from_db()
    assert req.status == "approved"

    # 5. The system page shows the checklist with fixes.
    login(client, personas["owner"])
    page = client.get("/systems/support-copilot/").content.decode()
    # The owner may write the card, so the fix links to where it is written.
    assert "BLOCK" in page and 'Fix: <a href="/systems/support-copilot/model-card/">Write the model card' in page
    client.post("/systems/support-copilot/model-card/", {"model_details": "gpt-4o", "intended_use": "agents",
                                                         "limitations": "misses details", "publish": "1"})
    client.post("/systems/support-copilot/settings/", {"step": "target", "e-primary_metric": "rouge_l",
                                                       "e-metric_threshold": "0.4", "e-metric_higher_is_better": "on"})
    page = client.get("/systems/support-copilot/").content.decode()
    assert "model card v1 published" in page
    assert "no rouge_l result" in page

    # 6. The gate says block, with the reasons.
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    response = client.post("/api/v1/gate/checks", json.dumps({"system": "support-copilot", "environment": "production"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    unmet = {r["id"] for r in response.json()["requirements"] if r["status"] != "met"}
    assert response.json()["verdict"] == "block" and unmet == {"evaluation-threshold"}


def test_markdown_is_rendered_and_sanitized(client, request_in_review, personas):

    card = model_card_draft(actor=personas["owner"], system=request_in_review.system, model_details="m",
                                    intended_use="u", limitations="l",
                                    body_markdown="**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    login(client, personas["owner"])
    page = client.get(f"/systems/support-copilot/model-card/v{card.version}/").content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert" not in page and "javascript:" not in page


def test_security_headers(client, personas):
    login(client, personas["requester"])
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "default-src 'self'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
