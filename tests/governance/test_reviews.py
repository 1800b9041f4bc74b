from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clearance.errors import DomainError, InvalidTransition, NotAllowed
from governance.models import Review
from governance.services.reviews import (
    review_claim,
    review_decide,
    reviews_open,
    reviews_reopen_after_resubmission,
)
from intake import services as intake
from tests.conftest import answers

pytestmark = pytest.mark.django_db


def review(req, kind):
    return Review.objects.get(request=req, kind=kind)


def test_reviews_run_in_parallel_each_with_its_sla(request_in_review):
    reviews = {r.kind: r for r in Review.objects.filter(request=request_in_review)}
    assert set(reviews) == {"security", "legal", "privacy"}
    assert request_in_review.status == "in_review"
    assert (reviews["legal"].due_at - reviews["legal"].opened_at).days == 10
    assert (reviews["security"].due_at - reviews["security"].opened_at).days == 5


def test_request_is_approved_only_when_every_review_approves(request_in_review, personas):
    for kind in ("security", "legal"):
        review_decide(actor=personas[kind], review=review(request_in_review, kind),
                               decision="approved", rationale="ok")
        request_in_review.refresh_from_db()
        assert request_in_review.status == "in_review"
    decided = review_decide(actor=personas["privacy"], review=review(request_in_review, "privacy"),
                                     decision="approved", rationale="DPIA done", conditions="Retain 30 days")
    assert decided.expires_at > timezone.now() + timedelta(days=300)
    request_in_review.refresh_from_db()
    assert request_in_review.status == "approved"


def test_changes_requested_then_resubmission_reopens_that_review(request_in_review, personas):
    review_decide(actor=personas["security"], review=review(request_in_review, "security"),
                           decision="approved", rationale="ok")
    review_decide(actor=personas["legal"], review=review(request_in_review, "legal"),
                           decision="changes_requested", rationale="Name the vendor's DPA.")
    request_in_review.refresh_from_db()
    assert request_in_review.status == "in_review", "privacy is still open"
    review_decide(actor=personas["privacy"], review=review(request_in_review, "privacy"),
                           decision="approved", rationale="ok")
    request_in_review.refresh_from_db()
    assert request_in_review.status == "changes_requested"
    # A retitle is not material: the security approval stands.
    intake.request_update_answers(actor=personas["requester"], request=request_in_review,
                                  title="Support ticket summaries (DPA signed 2026-10)")
    intake.request_submit(actor=personas["requester"], request=request_in_review)
    assert reviews_reopen_after_resubmission(request_id=request_in_review.pk) == 1
    assert reviews_reopen_after_resubmission(request_id=request_in_review.pk) == 0, "idempotent"
    request_in_review.refresh_from_db()
    assert request_in_review.status == "in_review"
    assert review(request_in_review, "legal").status == "open"
    assert review(request_in_review, "security").status == "approved"


def test_nobody_reviews_their_own_request(personas):
    # The requester is also a security reviewer here.
    from django.contrib.auth.models import Group

    personas["requester"].groups.add(Group.objects.get(name="security-reviewer"))
    req = intake.request_create_draft(requester=personas["requester"], **answers())
    intake.request_submit(actor=personas["requester"], request=req)
    intake.request_start_triage(actor=personas["lead"], request=req)
    req.refresh_from_db()
    intake.request_set_tier(actor=personas["lead"], request=req, tier=req.suggested_tier)
    reviews_open(actor=personas["lead"], request=req, kinds=["security"])
    requester = type(personas["requester"]).objects.get(pk=personas["requester"].pk)
    with pytest.raises(NotAllowed, match="your own request"):
        review_decide(actor=requester, review=review(req, "security"), decision="approved", rationale="mine")
    with pytest.raises(NotAllowed):
        review_claim(actor=requester, review=review(req, "security"))


def test_wrong_role_and_bad_input_are_refused_and_change_nothing(request_in_review, personas):
    sec = review(request_in_review, "security")
    with pytest.raises(NotAllowed):
        review_decide(actor=personas["legal"], review=sec, decision="approved", rationale="x")
    with pytest.raises(DomainError) as info:
        review_decide(actor=personas["security"], review=sec, decision="approved", rationale="  ")
    assert info.value.field == "rationale"
    with pytest.raises(DomainError) as info:
        review_decide(actor=personas["security"], review=sec, decision="approved", rationale="ok",
                               expires_at=timezone.now() - timedelta(days=1))
    assert info.value.field == "expires_at"
    sec.refresh_from_db()
    assert sec.status == "open" and sec.decided_by is None


def test_a_decided_review_cannot_be_decided_again(request_in_review, personas):
    sec = review(request_in_review, "security")
    review_decide(actor=personas["security"], review=sec, decision="rejected", rationale="No SSO.")
    with pytest.raises(InvalidTransition, match="already decided by security"):
        review_decide(actor=personas["security"], review=sec, decision="approved", rationale="changed my mind")
    request_in_review.refresh_from_db()
    assert request_in_review.status == "rejected"


def test_claim(request_in_review, personas):
    sec = review(request_in_review, "security")
    review_claim(actor=personas["security"], review=sec)
    sec.refresh_from_db()
    assert sec.assignee == personas["security"]


def test_the_web_loser_of_two_decisions_is_told_who_decided_first(client, request_in_review, personas):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from tests.conftest import PASSWORD

    second = get_user_model().objects.create_user(username="security2", password=PASSWORD, first_name="Sam",
                                                  last_name="Second")
    second.groups.add(Group.objects.get(name="security-reviewer"))
    sec = review(request_in_review, "security")
    # The second reviewer opened the form while the review was open; the first decides meanwhile.
    review_decide(actor=personas["security"], review=sec, decision="rejected", rationale="No SSO.")
    client.force_login(second)
    response = client.post(f"/reviews/{sec.pk}/decide/", {"decision": "approved", "rationale": "Looks fine."})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Your decision was not recorded" in page
    assert "already decided by Security" in page and "(rejected)" in page
    sec.refresh_from_db()
    assert (sec.status, sec.decided_by, sec.rationale) == ("rejected", personas["security"], "No SSO.")
