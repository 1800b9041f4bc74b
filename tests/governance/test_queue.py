"""Review queues: views, filters, sort, counts, SLA per kind and tier, claim and reassign, and a
query count that does not grow with the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from clearance.errors import DomainError, NotAllowed
from governance.models import Review
from governance.policy.reviews import load_review_policy
from governance.services.reviews import review_decide, review_reassign, reviews_open
from intake import services as intake
from tests.conftest import answers

pytestmark = pytest.mark.django_db


def in_review(personas, *, title, tier=None, department="Support", kinds=("security",), **extra):
    lead = personas["lead"]
    req = intake.request_create_draft(requester=personas["requester"], **answers(title=title, department=department,
                                                                               **extra))
    intake.request_submit(actor=personas["requester"], request=req)
    intake.request_start_triage(actor=lead, request=req)
    req.refresh_from_db()
    chosen = tier or req.suggested_tier
    intake.request_set_tier(actor=lead, request=req, tier=chosen,
                            justification="" if chosen == req.suggested_tier else "test")
    reviews_open(actor=lead, request=req, kinds=list(kinds))
    return req


def test_sla_depends_on_kind_and_tier(personas):
    minimal = in_review(personas, title="Minimal", kinds=("security", "legal"))
    high = in_review(personas, title="High", tier="high", kinds=("security", "legal"))
    days = {(r.request.title, r.kind): (r.due_at - r.opened_at).days for r in Review.objects.select_related("request")}
    assert days == {("Minimal", "security"): 5, ("Minimal", "legal"): 10, ("High", "security"): 10, ("High", "legal"): 15}
    assert minimal and high


def test_review_kinds_come_from_the_policy_file(personas, settings, tmp_path):
    policy = tmp_path / "reviews.yaml"
    policy.write_text(
        "apiVersion: clearance/v1\nkind: ReviewPolicy\nname: t\nkinds:\n"
        "  - {id: security, label: Security, role: security-reviewer, sla_days: {default: 2}}\n"
        "  - {id: ethics, label: AI ethics board, role: legal-reviewer, sla_days: {default: 7, high: 21}}\n"
    )
    settings.REVIEW_POLICY_FILE = str(policy)  # an absolute path wins over POLICY_DIR
    req = in_review(personas, title="Ethics", kinds=("ethics",))
    review = Review.objects.get(request=req)
    assert review.get_kind_display() == "AI ethics board" and (review.due_at - review.opened_at).days == 7
    assert load_review_policy().kinds["ethics"].sla("high").days == 21
    review_decide(actor=personas["legal"], review=review, decision="approved", rationale="ok")
    req.refresh_from_db()
    assert req.status == "approved"
    with pytest.raises(DomainError):
        reviews_open(actor=personas["lead"], request=req, kinds=["privacy"])


def test_queue_views_filters_and_counts(client, personas):
    in_review(personas, title="Support summaries", department="Support")
    in_review(personas, title="Invoice fields", department="Finance", tier="high")
    late = in_review(personas, title="Late one", department="Finance")
    Review.objects.filter(request=late).update(opened_at=timezone.now() - timedelta(days=12),
                                               due_at=timezone.now() - timedelta(days=2))
    client.force_login(personas["security"])
    page = client.get("/reviews/queue/security/").content.decode()
    assert "3 unassigned" in page and "1 overdue" in page and "Late one" in page and "(overdue)" in page
    page = client.get("/reviews/queue/security/?department=Finance").content.decode()
    assert "Invoice fields" in page and "Support summaries" not in page
    page = client.get("/reviews/queue/security/?tier=high").content.decode()
    assert "Invoice fields" in page and "Late one" not in page
    page = client.get("/reviews/queue/security/?due=overdue").content.decode()
    assert "Late one" in page and "Invoice fields" not in page
    page = client.get("/reviews/queue/security/?age=8-30").content.decode()
    assert "Late one" in page and "Support summaries" not in page
    page = client.get("/reviews/queue/security/?sort=tier").content.decode()
    assert page.index("Invoice fields") < page.index("Support summaries")
    # Claim from the queue, then it shows under "mine".
    review = Review.objects.get(request__title="Support summaries")
    response = client.post(f"/reviews/{review.pk}/claim/", {"next": "/reviews/queue/security/?view=unassigned"})
    assert response.url == "/reviews/queue/security/?view=unassigned"
    page = client.get("/reviews/queue/security/?view=mine").content.decode()
    assert "Support summaries" in page and "Invoice fields" not in page


def test_claim_refuses_an_open_redirect(client, personas):
    req = in_review(personas, title="Support summaries")
    review = Review.objects.get(request=req)
    client.force_login(personas["security"])
    response = client.post(f"/reviews/{review.pk}/claim/", {"next": "https://evil.example/"})
    assert response.url == f"/reviews/{review.pk}/"


@pytest.mark.parametrize("rows", [3, 30])
def test_queue_page_query_count_does_not_grow_with_rows(client, personas, django_assert_max_num_queries, rows):
    lead = personas["lead"]
    requests = [intake.request_create_draft(requester=personas["requester"], **answers(title=f"Req {i}",
                                                                                       department=f"D{i % 4}"))
                for i in range(rows)]
    for req in requests:
        intake.request_submit(actor=personas["requester"], request=req)
        intake.request_start_triage(actor=lead, request=req)
        req.refresh_from_db()
        intake.request_set_tier(actor=lead, request=req, tier=req.suggested_tier)
        reviews_open(actor=lead, request=req, kinds=["security"])
    client.force_login(lead)
    for url in ("/reviews/queue/security/", "/reviews/queue/security/?view=all&sort=tier",
                "/reviews/queue/security/?department=D1&due=week"):
        with django_assert_max_num_queries(10):
            assert client.get(url).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/triage/?stage=all").status_code == 200


def test_lead_reassigns_one_or_many_reviews_with_checks(client, personas):
    second = type(personas["security"]).objects.create_user("security2", password="x")
    second.groups.add(Group.objects.get(name="security-reviewer"))
    reqs = [in_review(personas, title=f"Req {i}") for i in range(2)]
    ids = [Review.objects.get(request=r).pk for r in reqs]
    client.force_login(personas["lead"])
    client.post("/reviews/queue/security/assign/", {"reviews": ids, "assignee": second.pk})
    assert set(Review.objects.filter(pk__in=ids).values_list("assignee__username", flat=True)) == {"security2"}
    # A legal reviewer cannot take a security review; nothing changes.
    with pytest.raises(DomainError) as info:
        review_reassign(actor=personas["lead"], review=Review.objects.get(pk=ids[0]), assignee=personas["legal"])
    assert info.value.field == "assignee"
    with pytest.raises(NotAllowed):
        review_reassign(actor=personas["security"], review=Review.objects.get(pk=ids[0]), assignee=second)
    assert Review.objects.get(pk=ids[0]).assignee == second
