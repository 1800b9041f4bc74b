"""Concurrent decisions resolve to exactly one winner; needs real row locks (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from clearance.errors import InvalidTransition
from governance.models import Review
from governance.services import review_decide


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
