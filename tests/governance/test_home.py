"""The home page tells each demo persona what needs them now, with the counts the database holds and
links to every list it cuts short; the owner's systems show the gate's stored verdicts, say when the
gate would not serve one as it is, and name the top blocking reason with where it is fixed."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from catalog.models import AISystem
from clearance.demo import seed_demo
from governance.models import FactsVersion, PolicyActivation, ReadinessVerdict, Review
from intake.models import UseCaseRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]


@pytest.fixture
def demo() -> None:
    seed_demo()


def home(client: Any, username: str) -> str:
    client.force_login(get_user_model().objects.get(username=username))
    response = client.get("/")
    assert response.status_code == 200
    return unescape(re.sub(r"\s+", " ", response.content.decode()))


def section_of(page: str, name: str) -> str:
    start = page.index(f'<h2 id="h-{name}"')
    return page[start:page.index("</section>", start)]


def sections(page: str) -> set[str]:
    return set(re.findall(r'<h2 id="h-([a-z]+)"', page))


def test_each_persona_gets_the_sections_of_their_roles(client: Any, demo: None) -> None:
    assert sections(home(client, "requester")) == {"requests", "notes"}
    assert sections(home(client, "engineer")) == {"requests", "owned", "notes"}
    # The lead decides the risk reviews, so a queue of theirs shows too.
    assert sections(home(client, "lead")) >= {"lead", "portfolio", "notes"}
    assert sections(home(client, "security")) == {"review", "notes"}
    assert sections(home(client, "owner")) == {"owned", "notes"}
    assert sections(home(client, "auditor")) == {"portfolio", "notes"}


def test_the_requester_sees_each_request_with_its_next_step(client: Any, demo: None) -> None:
    page = home(client, "requester")
    mine = UseCaseRequest.objects.filter(requester__username="requester")
    assert f"All {mine.count()} of your requests" in page and 'href="/requests/?mine=1"' in page
    assert page.count("Next: ") == min(mine.count(), 6)
    draft = mine.filter(status="draft").first()
    if draft is not None:
        assert f'<a href="/requests/{draft.pk}/edit/">Finish the answers and submit</a>' in page
    changes = mine.filter(status__in=["draft", "changes_requested"]).count()
    if changes:
        assert f"{changes} waiting for you" in page


def test_a_reviewer_sees_the_queue_counts_the_database_holds(client: Any, demo: None) -> None:
    page = home(client, "security")
    now = timezone.now()
    open_ = Review.objects.filter(kind="security", status="open")
    overdue = open_.filter(due_at__lt=now).count()
    row = re.search(r'<tr><th scope="row"><a href="/reviews/queue/security/">Security</a></th>(.*?)</tr>', page)
    assert row, page
    cells = re.findall(r'data-label="([^"]+)">(.*?)</td>', row.group(1))
    values = {label: re.sub(r"<[^>]+>", "", value).strip() for label, value in cells}
    assert values["Open"] == str(open_.count())
    assert values["Unclaimed"] == str(open_.filter(assignee=None).count())
    assert values["Yours"] == str(open_.filter(assignee__username="security").count())
    assert values["Overdue"] == str(overdue)
    assert 'href="/reviews/queue/security/?due=overdue"' in page or overdue == 0
    waiting = open_.filter(assignee__username__in=["security"]) | open_.filter(assignee=None)
    section = section_of(page, "review")
    assert section.count('href="/reviews/') - section.count('href="/reviews/queue/') == min(waiting.count(), 6)


def test_the_lead_sees_triage_overdue_by_kind_and_the_longest_waiting(client: Any, demo: None) -> None:
    page = home(client, "lead")
    to_triage = UseCaseRequest.objects.filter(status__in=["submitted", "triage"]).count()
    assert f'<span class="num">{to_triage}</span> to triage' in page
    now = timezone.now()
    for kind, label in (("security", "Security"), ("legal", "Legal"), ("privacy", "Privacy")):
        n = Review.objects.filter(kind=kind, status="open", due_at__lt=now).count()
        if n:
            assert f'<a href="/reviews/queue/{kind}/?due=overdue">{label}</a> <span class="badge bad">{n} overdue</span>' in page
    oldest = UseCaseRequest.objects.filter(status__in=["submitted", "triage", "in_review"]).order_by("submitted_at", "pk")
    first = oldest.first()
    assert first is not None and f'href="/triage/{first.pk}/"' in page
    assert f"All {oldest.count()} requests waiting, oldest first" in page


def test_the_owner_sees_pass_or_block_and_the_top_reason_with_its_fix(client: Any, demo: None) -> None:
    page = home(client, "owner")
    owned = AISystem.objects.filter(technical_owner__username="owner")
    assert f"All {owned.count()} systems you own" in page and 'href="/systems/?owner=me"' in page
    blocked = ReadinessVerdict.objects.filter(system__in=owned, environment="production", verdict="block")
    assert blocked.exists()
    # Blocked systems come first; the first one's reason is its most severe unmet requirement.
    first = page.index('<ul class="systems">')
    assert "Production: Block" in page[first:first + 2000]
    assert re.search(r'Production is blocked by “[^<]+”: [^<]+\. <a href="/systems/[\w-]+/[^"]*">Fix it', page)
    # The page opens the list it links to, filtered to the owner's systems.
    client.force_login(get_user_model().objects.get(username="owner"))
    listing = client.get("/systems/?owner=me").content.decode()
    assert f"{owned.count()} in all" in listing


def test_a_verdict_the_gate_would_not_serve_is_marked_and_a_dead_policy_is_named(client: Any, demo: None) -> None:
    page = home(client, "owner")
    assert "(being recomputed)" not in page
    shown = re.search(r'<ul class="systems">\s*<li>\s*<a href="/systems/([\w-]+)/">', page)
    assert shown, section_of(page, "owned")
    system = AISystem.objects.get(slug=shown.group(1))
    FactsVersion.objects.filter(system=system).update(version=F("version") + 1)
    assert "(being recomputed)" in home(client, "owner")
    PolicyActivation.objects.all().delete()
    page = home(client, "owner")
    assert "The gate blocks every deploy: no readiness policy version has been activated" in page


def test_someone_without_a_role_sees_only_their_notifications(client: Any, demo: None) -> None:
    get_user_model().objects.create_user("nobody", password="x-unused-1")  # noqa: S106
    page = home(client, "nobody")
    assert sections(page) == {"notes"} and "You have no role yet" in page
