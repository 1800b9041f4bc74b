"""Words, not codes: the pages people read show choice labels, people's names, sync intervals in words,
numbers with thousands separators and months with their year; on the demo portfolio, as the lead."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from catalog.models import AISystem
from clearance.demo import seed_demo
from clearance.templatetags.clearance_tags import (
    action_words,
    choice_labels,
    every_minutes,
    person,
    thousands,
)
from intake.models import UseCaseRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]


def test_the_filters_say_it_in_words() -> None:
    assert choice_labels(["rules", "no_ai"], "alternative") == (
        "Rules or a deterministic workflow, No AI: process change or staffing")
    assert choice_labels(["personal", "special_category", "public"], "data_category") == (
        "Personal data, Special-category personal data, Public data only")
    assert choice_labels(["retired_code"], "data_category") == "retired_code"  # shown as stored, not dropped
    assert action_words("decision_record.proposed") == "Decision record proposed"
    assert [every_minutes(m) for m in (1, 15, 60, 90, 120, 1440, 2880, 10080)] == [
        "every minute", "every 15 minutes", "every hour", "every 1 hour 30 minutes", "every 2 hours",
        "every day", "every 2 days", "every week"]
    assert thousands(303705) == "303,705" and thousands(12) == "12" and thousands(None) == ""
    from datetime import timedelta

    from django.utils import timezone

    from clearance.templatetags.clearance_tags import age
    now = timezone.now()
    assert [age(now - d) for d in (timedelta(days=3, hours=2), timedelta(days=1), timedelta(hours=5),
                                   timedelta(minutes=1, seconds=5), timedelta(seconds=10))] == [
        "3 days", "1 day", "5 hours", "1 minute", "0 minutes"]
    User = get_user_model()
    assert person(User(username="rita", first_name="Rita", last_name="Risk")) == "Rita Risk"
    assert person(User(username="rita")) == "rita"


@pytest.fixture
def lead_client(client):
    seed_demo()
    client.force_login(get_user_model().objects.get(username="lead"))
    return client


def _text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def test_system_pages_show_words(lead_client) -> None:
    bodies = [_text(lead_client.get(f"/systems/{slug}/"))
              for slug in AISystem.objects.order_by("slug").values_list("slug", flat=True)]
    everything = "\n".join(bodies)
    # No interval in raw minutes, no action code, no data-category code list, no month without its year.
    assert not re.search(r"every \d+ min\b", everything)
    assert not re.search(r"<strong>[a-z_]+\.[a-z_]+</strong>", everything)
    assert not re.search(r"<dd>(personal|special_category|confidential|public)(, [a-z_]+)*</dd>", everything)
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2}\b(?!\d)", everything)
    # And the words are there: the demo has daily syncs, request volumes in the hundreds of thousands,
    # personal data, and decision records proposed.
    assert "every day" in everything or "every hour" in everything
    assert re.search(r"<td>\d{1,3}(,\d{3})+</td>", everything), "request volumes with thousands separators"
    assert "Personal data" in everything
    assert re.search(r"<strong>[A-Z][a-z]+( [a-z]+)+</strong>", everything)


def test_owner_names_not_usernames(lead_client) -> None:
    User = get_user_model()
    named = [u for u in User.objects.exclude(first_name="") if u.get_full_name() != u.username]
    assert named, "the demo personas have names"
    system = AISystem.objects.filter(risk_owner__in=named).select_related("risk_owner").first()
    assert system is not None
    body = _text(lead_client.get(f"/systems/{system.slug}/"))
    assert system.risk_owner.get_full_name() in body
    assert f"risk {system.risk_owner.username}," not in body and f"risk {system.risk_owner.username}<" not in body


def test_request_page_shows_choice_labels(lead_client) -> None:
    request = UseCaseRequest.objects.exclude(alternatives_considered=[]).exclude(data_categories=[]).first()
    assert request is not None
    body = _text(lead_client.get(f"/requests/{request.pk}/"))
    assert choice_labels(request.alternatives_considered, "alternative") in body
    assert choice_labels(request.data_categories, "data_category") in body
    assert ", ".join(request.alternatives_considered) not in body or len(request.alternatives_considered) == 0


def test_notifications_name_people(lead_client) -> None:
    """A submission tells the governance team who submitted it by name (the demo submits requests
    through the same service)."""
    from clearance.models import Notification

    submitted = Notification.objects.filter(body__contains=" submitted REQ-").first()
    assert submitted is not None, "the demo's submissions notify the governance team"
    request = UseCaseRequest.objects.get(pk=int(re.search(r"submitted REQ-(\d+)\.", submitted.body).group(1)))
    assert submitted.body.startswith(f"{person(request.requester)} submitted ")
    assert person(request.requester) != request.requester.username


def test_fix_texts_link_where_the_viewer_can_fix(client) -> None:
    """The readiness checklist's "Fix:" links to the page where it is fixed for those who may act there
    (the gate's fix_url); a reader sees the same text without a link (the dead-link walk checks the rest)."""
    seed_demo()
    User = get_user_model()
    linked = 0
    for persona, expect_links in (("lead", True), ("auditor", False)):
        client.force_login(User.objects.get(username=persona))
        for slug in AISystem.objects.values_list("slug", flat=True):
            body = client.get(f"/systems/{slug}/").content.decode()
            links = re.findall(r'<div class="fix">Fix: <a href="(/systems/[^"]+)">', body)
            if expect_links:
                linked += len(links)
            else:
                assert all(link.split("#")[0] == f"/systems/{slug}/" for link in links), links
    assert linked > 0, "some demo system has an unmet requirement the lead can fix"


def test_incident_pages_show_words(lead_client) -> None:
    from risks.models import Incident

    incident = Incident.objects.get(serious_facts=["fundamental_rights"])
    body = _text(lead_client.get(f"/incidents/{incident.pk}/"))
    assert "Discrimination or unfair treatment" in body and "<dd>High</dd>" in body and "<dd>Closed" in body
    assert "Complete report sent" in body or "complete report sent" in body
    assert "Omar Haddad" in body and "310" in body
    assert not re.search(r">(discrimination|fundamental_rights|complete_sent|closed|high)<", body)
    listing = _text(lead_client.get("/incidents/?status="))
    assert "Investigating" in listing and "Medium" in listing and "no report required" in listing
    assert not re.search(r"<td>(investigating|medium|not_required)</td>", listing)
