"""Risks past their review date (and risks whose owner has left) in the ownership-gaps report, added by
the risks app through catalog's registry; the page's queries do not grow with the number of risks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.choices import LifecycleStage
from catalog.models import AISystem
from catalog.selectors.gaps import ownership_gaps
from catalog.services.systems import system_create
from risks.models import Risk
from risks.services import risk_create
from tests.risks.risk_helpers import risk_input


def _overdue(owner: Any, system: Any, title: str, days: int = 5, **kw: Any) -> Risk:
    due = timezone.localdate() - timedelta(days=days)
    return risk_create(
        actor=kw.pop("actor", owner),
        systems=[system],
        data=risk_input(owner, title=title, review_date=due),
        **kw,
    )


def _bulk(system: Any, owner: Any, n: int) -> None:
    now = timezone.now()
    due = timezone.localdate() - timedelta(days=2)
    risks = Risk.objects.bulk_create(
        Risk(
            title=f"Bulk risk {i}",
            category="1.3",
            owner=owner,
            likelihood=2,
            impact=2,
            review_date=due,
            created_by=owner,
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    )
    Risk.systems.through.objects.bulk_create(
        Risk.systems.through(risk_id=r.pk, aisystem_id=system.pk) for r in risks
    )


def test_overdue_risks_show_for_those_who_see_their_system(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    owner, lead = personas["owner"], personas["lead"]
    late = _overdue(owner, risky_system, "Stale consent records", days=12)
    _overdue(owner, risky_system, "Reviewed on time", days=-30)  # review date ahead: not a gap
    other = system_create(
        actor=lead,
        name="Fraud scoring",
        purpose="Score payments",
        risk_tier="high",
        technical_owner=personas["requester"],
        risk_owner=personas["risk"],
    )
    hidden = _overdue(personas["requester"], other, "Drift in merchant codes", days=3, actor=lead)
    retired = system_create(
        actor=lead,
        name="Old chatbot",
        purpose="Answer FAQs",
        risk_tier="limited",
        technical_owner=owner,
        risk_owner=personas["risk"],
    )
    _overdue(owner, retired, "Retired system's risk", days=40)
    AISystem.objects.filter(pk=retired.pk).update(lifecycle_stage=LifecycleStage.RETIRED)
    left = personas["requester"]
    left.is_active = False
    left.save()

    today = timezone.localdate()
    report = ownership_gaps(lead, today)
    assert [(label, obj.pk) for label, obj, *_ in report.overdue] == [("Risk", late.pk), ("Risk", hidden.pk)]
    assert [(label, obj.pk) for label, obj, _ in report.inactive_document_owners] == [("Risk", hidden.pk)]
    # The technical owner of one system sees that system's risk, not the other's.
    assert [obj.pk for _, obj, *_ in ownership_gaps(owner, today).overdue] == [late.pk]

    client.force_login(owner)
    page = client.get("/ownership-gaps/").content.decode()
    assert "Stale consent records" in page and late.get_absolute_url() in page
    assert "Drift in merchant codes" not in page and "Retired system" not in page
    assert "Reviewed on time" not in page
    assert "Documents and risks past their review date (1)" in page


def test_gaps_page_queries_do_not_grow_with_the_risks(
    client: Any, personas: dict[str, Any], risky_system: Any
) -> None:
    client.force_login(personas["lead"])

    def count() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/ownership-gaps/")
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    count()  # warm up: the first request of a session reads what later ones have cached
    _bulk(risky_system, personas["owner"], 3)
    few, page = count()
    assert page.count("Bulk risk") == 3
    _bulk(risky_system, personas["owner"], 300)
    many, page = count()
    assert page.count("Bulk risk") == 303
    print(f"gaps page queries: {few} with 3 risks, {many} with 303")
    assert many == few and many <= 20, (few, many)
