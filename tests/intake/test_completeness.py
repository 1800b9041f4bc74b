"""One completeness rule for every way a request reaches triage: the one-page form, the guided form
and the submit service refuse the same incomplete or contradictory answers, naming each by its label;
choice fields that matter start blank; owners must hold a role that may own."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalog.models import AISystem
from clearance.models import AuditEvent
from intake import services
from intake.models import UseCaseRequest
from tests.conftest import answers

pytestmark = pytest.mark.django_db

ONE_PAGE = {"title": "Support ticket summaries", "problem": "p", "business_outcome": "o", "why_ai": "w"}


def test_one_page_form_cannot_submit_single_letter_answers(client, personas):
    """The case that used to reach triage as Minimal: a title, then "p", "o", "w", then Submit."""
    client.force_login(personas["requester"])
    client.post("/requests/new/", {"title": "Support ticket summaries", "action": "save"})
    req = UseCaseRequest.objects.get()
    response = client.post(f"/requests/{req.pk}/edit/", {**ONE_PAGE, "submit": "1"})
    req.refresh_from_db()
    assert req.status == "draft" and req.submitted_at is None
    assert not AuditEvent.objects.filter(action="request.submitted").exists()
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"problem", "business_outcome", "why_ai", "alternatives_considered", "data_categories"}
    body = response.content.decode()
    for label in ("Business problem: say a little more", "Why AI?: say a little more",
                  "Alternatives considered: this answer is needed", "Data categories: this answer is needed"):
        assert label in body, label
    assert "Request submitted for triage" not in body


def test_the_submit_button_names_missing_answers_by_label(client, personas):
    req = services.request_create_draft(requester=personas["requester"], title="Half an idea")
    client.force_login(personas["requester"])
    response = client.post(f"/requests/{req.pk}/submit/", follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Business problem: this answer is needed before the request goes to triage" in text
    assert "Why AI?: this answer is needed" in text and "why ai:" not in text
    req.refresh_from_db()
    assert req.status == "draft"


def test_the_guided_form_review_refuses_what_the_service_refuses(client, personas):
    """A draft whose every wizard step was answered but with a one-word problem is still not submitted."""
    req = services.request_create_draft(requester=personas["requester"], **answers(problem="Slow"))
    client.force_login(personas["requester"])
    response = client.post(f"/requests/{req.pk}/steps/review/", {"action": "submit"}, follow=True)
    req.refresh_from_db()
    assert req.status == "draft"
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Business problem" in text


def test_public_data_only_cannot_go_with_personal_data(client, personas):
    with pytest.raises(ValidationError) as info:
        services.request_create_draft(requester=personas["requester"],
                                      **answers(data_categories=["public", "special_category"]))
    assert "Public data only" in " ".join(info.value.message_dict["data_categories"])
    assert not UseCaseRequest.objects.exists()
    client.force_login(personas["requester"])
    response = client.post("/requests/new/", {**answers(data_categories=["public", "personal"],
                                                        alternatives_considered=["rules"]),
                                              "customer_facing": "", "human_in_the_loop": "on", "submit": "1"})
    assert response.status_code == 200
    assert "cannot go together with personal" in " ".join(response.context["form"].errors["data_categories"])
    assert not UseCaseRequest.objects.exists()


def test_a_complete_request_submits_through_every_path(client, personas):
    client.force_login(personas["requester"])
    response = client.post("/requests/new/", {**answers(), "human_in_the_loop": "on", "submit": "1"})
    req = UseCaseRequest.objects.get()
    assert response.status_code == 302 and req.status == "submitted"


def test_annex_area_starts_blank_on_both_forms(client, personas):
    client.force_login(personas["requester"])
    page = client.get("/requests/new/").content.decode()
    select = page[page.index('name="annex_iii_area"'):]
    select = select[:select.index("</select>")]
    assert '<option value="" selected>Choose the area</option>' in select
    assert 'value="biometrics" selected' not in select and 'value="none" selected' not in select
    req = services.request_create_draft(requester=personas["requester"], **answers(touches_annex_iii=True))
    step = client.get(f"/requests/{req.pk}/steps/people/").content.decode()
    select = step[step.index('name="annex_iii_area"'):]
    select = select[:select.index("</select>")]
    assert '<option value="" selected>Choose the area</option>' in select
    # Ticking Annex III without choosing the area is not submittable.
    with pytest.raises(ValidationError) as info:
        services.request_submit(actor=personas["requester"], request=req)
    assert set(info.value.message_dict) == {"annex_iii_area", "annex_iii_details"}


def test_a_read_only_auditor_cannot_be_made_an_owner(client, personas, request_in_review):
    lead = personas["lead"]
    with pytest.raises(ValidationError) as info:
        services.request_assign_owners(actor=lead, request=request_in_review, business=personas["requester"],
                                       technical=personas["owner"], risk=personas["auditor"])
    assert list(info.value.message_dict) == ["risk"]
    assert "Risk owner: auditor holds no role that may own a system" in info.value.message_dict["risk"][0]
    system = AISystem.objects.get(slug="support-copilot")
    assert system.risk_owner == personas["risk"]
    client.force_login(lead)
    response = client.post(f"/triage/{request_in_review.pk}/", {
        "step": "owners", "business": personas["requester"].pk, "technical": personas["outsider"].pk,
        "risk": personas["auditor"].pk})
    assert response.status_code in (200, 400)
    form_errors = response.context["owners_form"].errors
    assert "Technical owner: outsider holds no role" in " ".join(form_errors["technical"])
    assert "Risk owner: auditor holds no role" in " ".join(form_errors["risk"])
    system.refresh_from_db()
    request_in_review.refresh_from_db()
    assert system.risk_owner == personas["risk"] and request_in_review.risk_owner == personas["risk"]


def test_the_one_page_form_names_each_missing_answer_by_its_label_once(client, personas):
    """The message carries its label; the page must not put the label in front of it again. Both
    ways to the form: Save and submit on a new request (redirected to the marked edit page) and on a
    draft being edited (the bound form)."""
    client.force_login(personas["requester"])
    marked = client.post("/requests/new/", {"title": "Support ticket summaries", "submit": "1"}, follow=True)
    req = UseCaseRequest.objects.get()
    edited = client.post(f"/requests/{req.pk}/edit/", {"title": "Support ticket summaries", "why_ai": "w",
                                                        "submit": "1"})
    for response in (marked, edited):
        body = response.content.decode()
        assert body.count("Business problem: this answer is needed before the request goes to triage") == 1
        assert "Business problem: Business problem" not in body and "Why AI?: Why AI?" not in body
        assert "Why AI?: " in body
    # Django's own messages, which do not name their field, still get the label in front.
    invalid = client.post(f"/requests/{req.pk}/edit/", {"title": "", "save": "1"})
    assert "Title: This field is required." in invalid.content.decode()
