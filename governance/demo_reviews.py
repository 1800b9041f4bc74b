"""Demo data for intake and reviews (issue 3): a draft half-way through the guided form, a
possible duplicate on the triage board, a reviewer's question answered on the timeline with an
attachment, an overdue review, an approval that lapsed after a new model version, and the
reminders they trigger. Called once from clearance.demo_data, inside its transaction."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog.services.systems import system_update
from governance.models import Review
from governance.services.approvals import approvals_recheck
from governance.services.reminders import reminders_send
from governance.services.reviews import review_claim, review_decide, triage_open_reviews
from intake import services as intake
from intake.models import UseCaseRequest


def _answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "department": "Field Operations",
        "problem": "Dispatchers plan 300 technician visits a day by hand in spreadsheets.",
        "business_outcome": "More visits per technician without longer days.",
        "kpi": "Visits per technician per day",
        "kpi_baseline": "4.1 (Q3 dispatch report)",
        "kpi_target": "4.8 within two quarters",
        "why_ai": "Travel times, skills and parts availability interact; fixed rules plan badly.",
        "alternatives_considered": ["rules", "off_the_shelf"],
        "deterministic_parts": "Skills matching and working-time limits stay hard rules.",
        "users_affected": "40 dispatchers; 300 technicians get the plans.",
        "human_in_the_loop": True,
        "fallback": "Dispatchers plan by hand as today.",
        "data_categories": ["personal", "confidential"],
        "data_sources": "Field-service CRM jobs, technician calendars, parts stock.",
        "privacy_lawful_basis": "legitimate_interests",
        "privacy_data_subjects": "Technicians and customers at the visited sites.",
        "privacy_retention": "Plans kept 90 days.",
        "vendor_model": "OR-Tools with a gradient-boosted travel-time model",
        "expected_volume": "300 visits a day",
        "latency_target": "Overnight batch, re-plan in under 60 s",
        "monthly_budget": Decimal("900"),
    }
    base.update(overrides)
    return base


def seed_review_demo(*, users: dict[str, Any], say: Any) -> None:
    lead, requester, engineer = users["lead"], users["requester"], users["engineer"]
    # The seed named models and published cards after approving: pin those approvals to the
    # fuller picture now, so the first worker run finds nothing to lapse.
    approvals_recheck(reason="demo data seeded")

    # A draft the requester left after the third step of the guided form.
    draft = intake.request_save_step(actor=requester, request=None, step="problem", completed=True, answers={
        "title": "Warehouse pick-path optimiser", "department": "Logistics",
        "problem": "Pickers walk 11 km a shift; routes ignore congestion.",
        "business_outcome": "Shorter walks, same accuracy.", "kpi": "Km walked per shift",
        "kpi_baseline": "11 km (badge data, October)"})
    intake.request_save_step(actor=requester, request=draft, step="alternatives", completed=True, answers={
        "alternatives_considered": ["rules"], "why_ai": "Congestion changes by the minute.",
        "deterministic_parts": "Safety zones and lift rules stay hard-coded."})
    intake.request_save_step(actor=requester, request=draft, step="people", completed=False, answers={
        "users_affected": "120 pickers"})

    # A possible duplicate of support-copilot, waiting on the triage board.
    duplicate = intake.request_create_draft(requester=engineer, **_answers(
        title="Support ticket summary assistant", department="Customer Support",
        problem="Agents read long ticket threads before replying; summaries would help.",
        vendor_model="Azure OpenAI gpt-4o-mini", data_categories=["personal"]))
    intake.request_submit(actor=engineer, request=duplicate)

    # A reviewer's question, the requester's answer with an attachment (sales-email-drafter).
    sales = UseCaseRequest.objects.filter(title="Sales outreach email drafter").first()
    if sales is not None:
        intake.request_comment(actor=users["legal"], request=sales, kind="question", body=(
            "Which **data processing agreement** covers prospect data sent to the vendor? "
            "Please attach the relevant clause."))
        intake.request_comment(actor=requester, request=sales, kind="answer", body=(
            "The Azure EU Data Boundary DPA, section 3. Summary attached; the full PDF is in the contract system."))
        intake.request_attach(actor=requester, request=sales, upload=SimpleUploadedFile(
            "azure-dpa-summary.md", b"# Azure DPA summary\n\n- EU Data Boundary\n- No training on customer data\n"))

    # An overdue review: opened nine days ago with a five-day security SLA.
    overdue = intake.request_create_draft(requester=requester, **_answers(title="Field-service visit planner"))
    intake.request_submit(actor=requester, request=overdue)
    triage_open_reviews(actor=lead, request=overdue, kinds=["security", "legal", "privacy"],
                        assignees={"security": users["security"]}, confirm_suggested_tier=True)
    # Demo only: backdate the reviews so the queue shows an aged, overdue item.
    for review in Review.objects.filter(request=overdue):
        opened = review.opened_at - timedelta(days=9)
        Review.objects.filter(pk=review.pk).update(opened_at=opened, due_at=opened + (review.due_at - review.opened_at))

    # An approval that lapsed: the model version changed after security and legal approved.
    kb = intake.request_create_draft(requester=engineer, **_answers(
        title="Knowledge-base answer drafts", department="IT", data_categories=["confidential"],
        problem="IT agents rewrite the same knowledge-base answers for every ticket.",
        vendor_model="Mistral Large (self-hosted)"))
    intake.request_submit(actor=engineer, request=kb)
    triage_open_reviews(actor=lead, request=kb, kinds=["security", "legal"], confirm_suggested_tier=True)
    kb.refresh_from_db()
    system = intake.request_create_system(actor=lead, request=kb, slug="kb-answer-drafts", name="KB answer drafts")
    system = system_update(actor=users["owner"], system=system, model_name="mistral-large", model_version="2407")
    for review in Review.objects.filter(request=kb):
        reviewer = users[review.kind]
        review_claim(actor=reviewer, review=review)
        review_decide(actor=reviewer, review=review, decision="approved", rationale="Self-hosted, no data leaves us.",
                      conditions="Re-review on a new model version.", expires_at=timezone.now() + timedelta(days=20))
    system_update(actor=users["owner"], system=system, model_version="2411")
    lapsed = approvals_recheck(system_id=system.pk, reason="model version 2407 → 2411")

    sent = reminders_send()
    say(f"Intake and reviews: a half-finished draft, a possible duplicate, a timeline conversation, an overdue "
        f"review, {len(lapsed)} lapsed approvals on kb-answer-drafts, {sent['overdue']} overdue and "
        f"{sent['expiring']} expiry reminders.")
