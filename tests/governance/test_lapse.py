"""Approvals are pinned to a fingerprint of the answers, the model and the model card version; a
material change lapses them, reopens the review with a diff, and is audited."""

from __future__ import annotations

import pytest

from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.systems import system_update
from clearance.audit import verify_chain
from clearance.models import AuditEvent, Notification
from governance.models import Review
from governance.services.approvals import approvals_recheck
from governance.services.reviews import review_decide, reviews_reopen_after_resubmission
from governance.tasks import recompute_readiness
from intake import services as intake

pytestmark = pytest.mark.django_db


def approve_all(req, personas):
    for review in Review.objects.filter(request=req, status="open"):
        review_decide(actor=personas[review.kind], review=review, decision="approved", rationale="ok")
    req.refresh_from_db()


def test_approval_stores_a_fingerprint_of_answers_model_and_card(request_in_review, personas):
    approve_all(request_in_review, personas)
    review = Review.objects.get(request=request_in_review, kind="security")
    assert len(review.fingerprint) == 64 and request_in_review.status == "approved"
    assert review.pinned["answers"]["vendor_model"] == "Azure OpenAI gpt-4o"
    assert review.pinned["model_card_version"] is None
    event = AuditEvent.objects.filter(action="review.approved", object_id=str(review.pk)).get()
    assert event.data["fingerprint"] == review.fingerprint


def test_naming_the_model_later_extends_the_pin_without_lapsing(request_in_review, personas):
    approve_all(request_in_review, personas)
    system = request_in_review.system
    system_update(actor=personas["owner"], system=system, model_name="gpt-4o", model_version="2024-08-06")
    recompute_readiness(system_id=system.pk, reason="settings changed")
    review = Review.objects.get(request=request_in_review, kind="security")
    assert review.status == "approved" and review.pinned["model"]["model_version"] == "2024-08-06"
    assert AuditEvent.objects.filter(action="review.pin_extended").count() == 3


def test_a_new_model_version_lapses_every_approval_and_reopens_review_with_a_diff(request_in_review, personas):
    system = request_in_review.system
    system_update(actor=personas["owner"], system=system, model_name="gpt-4o", model_version="2024-08-06")
    approve_all(request_in_review, personas)
    system_update(actor=personas["owner"], system=system, model_version="2024-11-20")
    # The outbox task the change enqueues (run here inline; the worker test runs it for real).
    recompute_readiness(system_id=system.pk, reason="settings changed")
    reviews = {r.kind: r for r in Review.objects.filter(request=request_in_review)}
    assert {r.status for r in reviews.values()} == {"open"}
    security = reviews["security"]
    assert security.lapsed_at is not None and security.assignee == personas["security"]
    changed = {row["field"]: row for row in security.lapse_diff}
    assert changed["model.model_version"]["before"] == "2024-08-06"
    assert changed["model.model_version"]["after"] == "2024-11-20"
    request_in_review.refresh_from_db()
    assert request_in_review.status == "in_review"
    assert AuditEvent.objects.filter(action="review.lapsed").count() == 3
    assert Notification.objects.filter(recipient=personas["security"], subject__startswith="Approval lapsed").exists()
    # Idempotent: running the check again changes nothing.
    assert approvals_recheck(system_id=system.pk) == []
    assert verify_chain().ok


def test_the_reviewer_sees_the_diff_and_approving_again_pins_the_new_facts(client, request_in_review, personas):
    approve_all(request_in_review, personas)
    system = request_in_review.system
    for version in (1, 2):
        card = model_card_draft(actor=personas["owner"], system=system, model_details=f"gpt-4o v{version}",
                                        intended_use="agents", limitations="may omit details")
        model_card_publish(actor=personas["owner"], card=card)
        approvals_recheck(system_id=system.pk, reason="model card published")
        if version == 1:
            assert Review.objects.get(request=request_in_review, kind="security").status == "approved", \
                "a first card fills in what was unknown"
    review = Review.objects.get(request=request_in_review, kind="security")
    client.force_login(personas["security"])
    page = client.get(f"/reviews/{review.pk}/").content.decode()
    assert "The earlier approval lapsed" in page and "Published model card version" in page
    assert "<del>1</del>" in page and "<ins>2</ins>" in page
    review_decide(actor=personas["security"], review=review, decision="approved", rationale="card ok")
    review.refresh_from_db()
    assert review.pinned["model_card_version"] == 2 and review.lapsed_at is None


def test_a_material_answer_change_on_resubmission_lapses_the_approval(request_in_review, personas):
    review_decide(actor=personas["security"], review=Review.objects.get(request=request_in_review, kind="security"),
                           decision="approved", rationale="ok")
    review_decide(actor=personas["legal"], review=Review.objects.get(request=request_in_review, kind="legal"),
                           decision="changes_requested", rationale="Which vendor?")
    review_decide(actor=personas["privacy"], review=Review.objects.get(request=request_in_review, kind="privacy"),
                           decision="approved", rationale="ok")
    request_in_review.refresh_from_db()
    intake.request_update_answers(actor=personas["requester"], request=request_in_review,
                                  vendor_model="Anthropic Claude via Bedrock", customer_facing=True)
    intake.request_submit(actor=personas["requester"], request=request_in_review)
    reviews_reopen_after_resubmission(request_id=request_in_review.pk)
    statuses = dict(Review.objects.filter(request=request_in_review).values_list("kind", "status"))
    assert statuses == {"security": "open", "legal": "open", "privacy": "open"}
    diff = {row["field"] for row in Review.objects.get(request=request_in_review, kind="security").lapse_diff}
    assert diff == {"answers.vendor_model", "answers.customer_facing", "model.vendor_model"}


def test_an_unrelated_change_does_not_lapse(request_in_review, personas):
    approve_all(request_in_review, personas)
    system = request_in_review.system
    system_update(actor=personas["owner"], system=system, runbook_url="https://runbooks.example.com/x")
    assert approvals_recheck(system_id=system.pk) == []
    assert set(Review.objects.filter(request=request_in_review).values_list("status", flat=True)) == {"approved"}
