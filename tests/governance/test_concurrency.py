"""Concurrent decisions resolve to exactly one winner; needs real row locks (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from catalog.services.systems import system_update
from clearance.errors import InvalidTransition
from clearance.models import AuditEvent
from governance.models import Review
from governance.services.approvals import approvals_recheck
from governance.services.reviews import review_claim, review_decide


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_one_review_produce_one_decision_and_one_conflict(request_in_review, personas):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks; this race is exercised against PostgreSQL in CI")
    from django.contrib.auth.models import Group

    second = type(personas["security"]).objects.create_user("security2", password="x")  # noqa: S106
    second.groups.add(Group.objects.get(name="security-reviewer"))
    review = Review.objects.get(request=request_in_review, kind="security")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def decide(user, decision: str) -> None:
        try:
            barrier.wait()
            review_decide(actor=user, review=review, decision=decision, rationale=f"{user.username} decides")
            outcomes[user.username] = "won"
        except InvalidTransition as exc:
            outcomes[user.username] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(personas["security"], "approved")),
               threading.Thread(target=decide, args=(second, "rejected"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, result in outcomes.items() if result == "won"]
    losers = [result for result in outcomes.values() if isinstance(result, InvalidTransition)]
    assert len(winners) == 1 and len(losers) == 1
    assert "already decided" in losers[0].message
    review.refresh_from_db()
    assert review.decided_by.username == winners[0]


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_claiming_one_review_produce_one_claim_and_one_conflict(request_in_review, personas):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks; this race is exercised against PostgreSQL in CI")
    from django.contrib.auth.models import Group

    second = type(personas["security"]).objects.create_user("security2", password="x")  # noqa: S106
    second.groups.add(Group.objects.get(name="security-reviewer"))
    review = Review.objects.get(request=request_in_review, kind="security")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def claim(user) -> None:
        try:
            barrier.wait()
            review_claim(actor=user, review=review)
            outcomes[user.username] = "won"
        except InvalidTransition as exc:
            outcomes[user.username] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (personas["security"], second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, result in outcomes.items() if result == "won"]
    losers = [result for result in outcomes.values() if isinstance(result, InvalidTransition)]
    assert len(winners) == 1 and len(losers) == 1
    assert "already claimed by" in losers[0].message
    review.refresh_from_db()
    assert review.assignee.username == winners[0]
    assert AuditEvent.objects.filter(action="review.claimed", object_id=str(review.pk)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_decision_racing_a_lapse_ends_in_one_consistent_state(request_in_review, personas):
    """The beat sweep lapses an approval while the recompute task checks the same system: one lapse,
    one audit event, and the review is open with its diff."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks; this race is exercised against PostgreSQL in CI")

    for kind in ("security", "legal", "privacy"):
        review_decide(actor=personas[kind], review=Review.objects.get(request=request_in_review, kind=kind),
                      decision="approved", rationale="ok")
    system = request_in_review.system
    # Naming the model where none was known extends the pin; changing it later is material.
    system_update(actor=personas["owner"], system=system, model_name="gpt-4o", model_version="2024-08-06")
    assert approvals_recheck(system_id=system.pk) == []
    system_update(actor=personas["owner"], system=system, model_version="2024-11-20")
    barrier = threading.Barrier(3)
    results: list[object] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(approvals_recheck(system_id=system.pk, reason="race"))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure below
            results.append(exc)
        finally:
            connection.close()

    def decide_again() -> None:
        try:
            barrier.wait()
            review_decide(actor=personas["security"],
                          review=Review.objects.get(request=request_in_review, kind="security"),
                          decision="rejected", rationale="late")
            results.append("decided")
        except InvalidTransition as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep), threading.Thread(target=sweep), threading.Thread(target=decide_again)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, InvalidTransition)], results
    lapses = AuditEvent.objects.filter(action="review.lapsed", data__fingerprint_after__isnull=False)
    per_review = {}
    for event in lapses:
        per_review[event.object_id] = per_review.get(event.object_id, 0) + 1
    assert all(n == 1 for n in per_review.values()), per_review
    security = Review.objects.get(request=request_in_review, kind="security")
    # Either the lapse came first and the rejection then decided the reopened review, or the
    # rejection found an approved review and got a conflict; never both or neither.
    # The security approval lapsed exactly once either way (the version change is material).
    assert per_review.get(str(security.pk)) == 1, per_review
    if "decided" in results:
        # A decision on the reopened review starts afresh: it clears the lapse marks, while the
        # lapse itself stays in the audit chain (counted above).
        assert security.status == "rejected" and security.lapsed_at is None and security.decided_by == personas["security"]
        assert security.rationale == "late"
    else:
        assert security.status == "open" and security.lapse_diff
