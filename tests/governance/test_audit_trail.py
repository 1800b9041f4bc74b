"""The audit trail page and its CSV export: filters validated by label, links only to objects the viewer
may open, the export following the page's filters and defusing formula-looking cells, a bounded number
of queries whatever the number of events."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import EvalResult
from clearance.audit import audit_record
from clearance.models import AuditEvent
from governance.selectors.audit import LINKABLE, object_links

pytestmark = pytest.mark.django_db

PAGE = reverse("audit-trail")
CSV_URL = reverse("audit-trail-csv")


def signed_in(client, user):
    client.force_login(user)
    return client


def rows(response) -> list[str]:
    return re.findall(r"<tr><td>(\d+)</td>", response.content.decode())


def csv_rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_filters_by_who_what_which_object_and_when(client, personas, request_in_review):
    system = request_in_review.system
    lead = signed_in(client, personas["lead"])
    everything = AuditEvent.objects.count()
    assert len(rows(lead.get(PAGE))) == min(everything, 50)

    by_owner_name = lead.get(PAGE, {"actor": "Lead"})  # a first name works as well as the username
    assert by_owner_name.status_code == 200
    assert len(rows(by_owner_name)) == AuditEvent.objects.filter(actor=personas["lead"]).count() > 0

    action = "system.created" if AuditEvent.objects.filter(action="system.created").exists() else \
        AuditEvent.objects.filter(object_type="catalog.aisystem").values_list("action", flat=True).first()
    by_action = lead.get(PAGE, {"action": action})
    assert [int(s) for s in rows(by_action)] == list(
        AuditEvent.objects.filter(action=action).order_by("-seq").values_list("seq", flat=True))
    # The choice is shown in words.
    words = action.replace(".", " ").replace("_", " ")
    assert f">{words[:1].upper() + words[1:]}</option>" in by_action.content.decode()

    of_system = AuditEvent.objects.filter(object_type="catalog.aisystem", object_id=str(system.pk))
    assert of_system.exists()
    by_slug = lead.get(PAGE, {"object_type": "catalog.aisystem", "object": system.slug})
    by_id = lead.get(PAGE, {"object_type": "catalog.aisystem", "object": str(system.pk)})
    expected = [str(s) for s in of_system.order_by("-seq").values_list("seq", flat=True)]
    assert rows(by_slug) == rows(by_id) == expected
    assert rows(lead.get(PAGE, {"object_type": "catalog.aisystem", "object": "no-such-system"})) == []

    today = timezone.localdate()
    assert len(rows(lead.get(PAGE, {"date_from": today.isoformat(), "date_to": today.isoformat()}))) == \
        min(everything, 50)
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert rows(lead.get(PAGE, {"date_from": tomorrow})) == []
    assert len(rows(lead.get(PAGE, {"date_to": (today - timedelta(days=1)).isoformat()}))) == 0


@pytest.mark.parametrize(("query", "message"), [
    ({"date_from": "2026-02-30"}, "From: Enter a valid date."),
    ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "To must not be before From."),
    ({"action": "made.up"}, "What happened: Select a valid choice."),
    ({"object": "12"}, "Kind of object: choose one to look up an object by id or slug."),
    ({"object_type": "intake.usecaserequest", "object": "abc"}, "Object id or slug: this kind of object is found"),
])
def test_bad_filters_are_named_by_label_and_show_nothing(client, personas, request_in_review, query, message):
    lead = signed_in(client, personas["lead"])
    response = lead.get(PAGE, query)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert rows(response) == []
    # Every id an aria-describedby names is on the page (the help text is rendered, not only referenced).
    for ids in re.findall(r'aria-describedby="([^"]+)"', html):
        for ref in ids.split():
            assert f'id="{ref}"' in html, ref
    refused = lead.get(CSV_URL, query)
    assert refused.status_code == 400
    assert message in refused.content.decode()


def test_events_link_to_objects_only_when_the_viewer_may_open_them(client, personas, request_in_review):
    system = request_in_review.system
    # An event about a kind of object with no page of its own (a user) stays plain text.
    audit_record(actor=personas["lead"], action="test.user_touched", obj=personas["owner"])
    # An evaluation result is linked to the evidence page that lists it.
    result = EvalResult.objects.create(system=system, metric="accuracy", value=0.9, source="manual",
                                       source_run_id="r1", observed_at=timezone.now())
    audit_record(actor=personas["owner"], action="eval_result.recorded", obj=result)
    page = signed_in(client, personas["auditor"]).get(PAGE).content.decode()
    assert f'href="{system.get_absolute_url()}"' in page
    assert f'href="{reverse("system-evidence", kwargs={"slug": system.slug})}"' in page
    assert f'href="{request_in_review.get_absolute_url()}"' in page
    assert "<td>owner</td>" in page  # the user event's object, unlinked

    events = list(AuditEvent.objects.all())
    request_event = AuditEvent.objects.filter(object_type="intake.usecaserequest").first()
    # The permission modules decide: the outsider may open none of them, the requester her own request.
    assert object_links(personas["outsider"], events) == {}
    requester_links = object_links(personas["requester"], events)
    assert requester_links[request_event.pk] == request_in_review.get_absolute_url()
    for event in events:
        if event.object_type == "governance.review":
            assert event.pk not in object_links(personas["security"], [event]) or \
                object_links(personas["security"], [event])[event.pk].startswith("/reviews/")
    # Every link on the page opens for its viewer.
    for href in set(re.findall(r'href="(/(?:systems|requests|reviews|decisions|evidence)/[^"]*)"', page)):
        assert client.get(href).status_code == 200, href


def test_csv_export_follows_the_filters_defuses_formulas_and_streams(client, personas, request_in_review):
    system = request_in_review.system
    audit_record(actor=personas["lead"], action="system.renamed", obj=system, object_repr="=HYPERLINK(\"x\")")
    lead = signed_in(client, personas["lead"])
    page = lead.get(PAGE, {"object_type": "catalog.aisystem", "object": system.slug})
    assert f'href="{CSV_URL}?object_type=catalog.aisystem&amp;object={system.slug}"' in page.content.decode()

    response = lead.get(CSV_URL, {"object_type": "catalog.aisystem", "object": system.slug})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    got = csv_rows(response)
    assert [int(r["seq"]) for r in got] == list(AuditEvent.objects.filter(
        object_type="catalog.aisystem", object_id=str(system.pk)).order_by("-seq").values_list("seq", flat=True))
    renamed = next(r for r in got if r["action"] == "system.renamed")
    assert renamed["object"] == "'=HYPERLINK(\"x\")"
    assert renamed["action_words"] == "System renamed"
    assert renamed["object_url"] == "http://testserver" + system.get_absolute_url()

    # No filter: every event, across what would be several pages.
    assert len(csv_rows(lead.get(CSV_URL))) == AuditEvent.objects.count()


def test_readers_only(client, personas):
    for name in ("requester", "owner", "security", "outsider"):
        signed_in(client, personas[name])
        assert client.get(PAGE).status_code == 403
        assert client.get(CSV_URL).status_code == 403


def test_verify_keeps_the_filters_and_shows_the_result(client, personas, request_in_review):
    lead = signed_in(client, personas["lead"])
    response = lead.get(PAGE, {"verify": "1", "actor": "lead"}).content.decode()
    assert f"Chain intact: {AuditEvent.objects.count()} events verified" in response
    assert 'value="lead"' in response


def _events(personas, request_in_review, n: int) -> None:
    system, lead = request_in_review.system, personas["lead"]
    for i in range(n):
        obj = (system, request_in_review, personas["owner"])[i % 3]
        audit_record(actor=lead, action=f"test.bulk_{i % 4}", obj=obj)


def _queries(client, url: str, query: dict[str, str], stream: bool = False) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, query)
        assert response.status_code == 200
        if stream:
            b"".join(response.streaming_content)
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_the_events(client, personas, request_in_review):
    """The same page of the same kinds of objects costs the same queries for 10 and for 200 events: the
    links take one query per kind of object on the page, never one per event."""
    signed_in(client, personas["lead"])
    filtered = ({"action": "test.bulk_0"}, {"actor": "lead", "object_type": "catalog.aisystem"})

    def measure() -> tuple[int, ...]:
        return (*(_queries(client, PAGE, q) for q in filtered), *(_queries(client, CSV_URL, q, True) for q in filtered))

    _events(personas, request_in_review, 10)
    small, small_all = measure(), _queries(client, PAGE, {})
    _events(personas, request_in_review, 190)
    large, large_all = measure(), _queries(client, PAGE, {})
    assert AuditEvent.objects.count() > 200
    print("audit trail queries (page x2, csv x2) at 10 / 200 events:", small, large, "unfiltered page:", small_all, large_all)
    assert small == large, (small, large)
    # Unfiltered, the kinds of object on the first page may differ; never more than one query per kind.
    assert max(small_all, large_all) <= max(large) + len(LINKABLE)
    assert large[0] <= 12, large
