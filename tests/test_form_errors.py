"""Forms people finish: required fields are marked before anyone submits, errors name the field by its
label (never its internal name), and no error list or flash message is a list with a role (axe's
"serious" for <ul role="alert">: the role strips the list of its meaning and orphans its items)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.utils import timezone

from clearance.demo import seed_demo
from clearance.errors import DomainError
from clearance.web import run_service
from governance.choices import ReviewStatus
from governance.models import Review
from governance.permissions import can_decide_review

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]

LIST_WITH_ROLE = re.compile(r"<(ul|ol)\b[^>]*\brole=")


@pytest.fixture
def demo() -> None:
    seed_demo()


def login(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def test_required_fields_are_marked_before_submit(client, demo) -> None:
    login(client, "lead")
    body = client.get("/systems/support-copilot/decisions/new/").content.decode()
    assert body.count('<span class="req" aria-hidden="true">*</span>') >= 2
    assert re.search(r"<input[^>]*\brequired\b", body) or re.search(r"<textarea[^>]*\brequired\b", body)
    # The one-page request form marks the answers a submission needs, and says what the mark means.
    body = login(client, "requester").get("/requests/new/").content.decode()
    assert "are needed before the request can be submitted" in body
    assert re.search(r'for="id_why_ai">[^<]*</label> <span class="req" aria-hidden="true">\*</span>', body)
    assert re.search(r'<textarea[^>]*aria-required="true"[^>]*id="id_why_ai"|<textarea[^>]*id="id_why_ai"'
                     r'[^>]*aria-required="true"', body)


def test_request_form_errors_use_labels_and_no_list_carries_a_role(client, demo) -> None:
    login(client, "requester")
    response = client.post("/requests/new/", {"title": "A try", "submit": "1"}, follow=True)
    body = response.content.decode()
    assert response.status_code == 200 and response.redirect_chain
    assert "Why AI?: this answer is needed" in body  # the field's label, never "why ai: …"
    assert "why ai:" not in body.lower() and "why_ai:" not in body
    assert 'role="alert"' in body and not LIST_WITH_ROLE.search(body)


def test_review_decision_error_names_the_field_by_label(client, demo) -> None:
    reviewer = get_user_model().objects.get(username="security")
    review = next(r for r in Review.objects.filter(status=ReviewStatus.OPEN, kind="security")
                  .select_related("request", "system") if can_decide_review(reviewer, r))
    client.force_login(reviewer)
    past = (timezone.now() - timedelta(days=2)).date().isoformat()
    response = client.post(f"/reviews/{review.pk}/decide/", {"decision": "approved", "rationale": "Looks fine.",
                                                             "expires_at": past})
    body = response.content.decode()
    assert "Approval expires: an approval must expire in the future" in body
    # Summarised at the top of the form, each entry a link to its field.
    assert re.search(r'<div class="error-summary" role="alert"><p>Please check:</p><ul><li>'
                     r'<a href="#id_expires_at">Approval expires</a></li>', body)
    assert 'id="id_expires_at"' in body
    assert "expires at:" not in body and not LIST_WITH_ROLE.search(body)


def _request():
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def test_a_message_outside_any_form_names_the_field_by_label(demo) -> None:
    request = _request()

    def refuse() -> None:
        raise DomainError("say why it is rejected", field="note")

    assert run_service(request, None, refuse, "done", labels={"note": "Reason"}) is None
    assert [str(m) for m in get_messages(request)] == ["Reason: say why it is rejected"]

    def refuse_unlabelled() -> None:
        raise DomainError("must be in the future", field="expires_at")

    request = _request()
    run_service(request, None, refuse_unlabelled, "done")
    assert [str(m) for m in get_messages(request)] == ["Expires at: must be in the future"]


def test_flash_messages_are_not_a_list_with_a_role(client, demo) -> None:
    login(client, "requester")
    response = client.post("/requests/new/", {"title": "Draft only", "problem": "Slow.", "save": "1",
                                              "annex_iii_area": "none"}, follow=True)
    body = response.content.decode()
    assert 'class="messages" role="status"' in body, "the draft save flashes a message"
    assert not LIST_WITH_ROLE.search(body)
