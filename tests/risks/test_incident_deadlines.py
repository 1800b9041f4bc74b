"""The EU AI Act's serious-incident rules as data, and the deadline arithmetic across time zones and
changes to and from summer time (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from risks.reporting import RULES_PATH, RulesError, parse_rules, report_due, rules

BRUSSELS = ZoneInfo("Europe/Brussels")
NEW_YORK = ZoneInfo("America/New_York")


def test_the_shipped_rules_carry_the_articles_and_periods():
    shipped = rules()
    assert {d.id: (d.days, d.ref) for d in shipped.deadlines} == {
        "general": (15, "Art. 73(2)"), "death": (10, "Art. 73(4)"),
        "widespread-or-infrastructure": (2, "Art. 73(3)")}
    assert shipped.by_id["critical_infrastructure"].ref.startswith("Art. 3(49)(b)")
    assert shipped.initial_report_ref == "Art. 73(5)"
    assert "2024/1689" in shipped.source["title"]


@pytest.mark.parametrize(("facts", "deadline"), [
    ([], None),
    (["widespread_infringement"], None),  # a qualifier: not serious on its own
    (["health"], "general"),
    (["property_environment", "fundamental_rights"], "general"),
    (["death"], "death"),
    (["death", "health"], "death"),
    (["critical_infrastructure"], "widespread-or-infrastructure"),
    (["fundamental_rights", "widespread_infringement"], "widespread-or-infrastructure"),
    (["death", "critical_infrastructure"], "widespread-or-infrastructure"),  # the shortest wins
])
def test_the_shortest_applicable_deadline_wins(facts, deadline):
    found = rules().applicable(facts)
    assert (found.id if found else None) == deadline


def test_the_day_of_awareness_is_not_counted_and_the_period_ends_at_midnight():
    aware = datetime(2026, 9, 1, 9, 30, tzinfo=BRUSSELS)
    assert report_due(aware, 15, BRUSSELS) == datetime(2026, 9, 17, 0, 0, tzinfo=BRUSSELS)
    # One minute before midnight is still the same day.
    late_evening = datetime(2026, 9, 1, 23, 59, tzinfo=BRUSSELS)
    assert report_due(late_evening, 2, BRUSSELS) == datetime(2026, 9, 4, 0, 0, tzinfo=BRUSSELS)


def test_spring_forward_inside_the_period_moves_nothing():
    # Summer time starts in Brussels on 29 March 2026: the period still ends at local midnight, which is
    # 22:00 UTC afterwards instead of 23:00 UTC before.
    aware = datetime(2026, 3, 27, 10, 0, tzinfo=BRUSSELS)
    due = report_due(aware, 2, BRUSSELS)
    assert due == datetime(2026, 3, 30, 0, 0, tzinfo=BRUSSELS)
    assert due.astimezone(UTC) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    # 62 hours on the wall clock, of which one was skipped.
    assert (due.astimezone(UTC) - aware.astimezone(UTC)).total_seconds() / 3600 == 61


def test_fall_back_inside_the_period_moves_nothing():
    aware = datetime(2026, 10, 20, 12, 0, tzinfo=BRUSSELS)  # summer time ends on 25 October 2026
    due = report_due(aware, 10, BRUSSELS)
    assert due.astimezone(UTC) == datetime(2026, 10, 30, 23, 0, tzinfo=UTC)


def test_the_day_is_the_reporting_zones_day_not_the_servers():
    # 23:30 UTC on 20 October is already 21 October in Brussels and still the 20th in New York.
    aware = datetime(2026, 10, 20, 23, 30, tzinfo=UTC)
    assert report_due(aware, 15, BRUSSELS) == datetime(2026, 11, 6, 0, 0, tzinfo=BRUSSELS)
    assert report_due(aware, 15, NEW_YORK) == datetime(2026, 11, 5, 0, 0, tzinfo=NEW_YORK)


def test_the_reporting_zone_is_a_setting(settings):
    settings.INCIDENT_REPORTING_TIME_ZONE = "America/New_York"
    aware = datetime(2026, 10, 20, 23, 30, tzinfo=UTC)
    assert report_due(aware, 15) == datetime(2026, 11, 5, 0, 0, tzinfo=NEW_YORK)


@pytest.mark.parametrize(("change", "words"), [
    (("days: 15", "days: 0"), "'days' must be a whole number"),
    (("when_any: [death]", "when_any: [deaths]"), "'when_any' must list ids"),
    (("licence:", "licensed:"), "'licence'"),
    (("    when_any: []\n", "    when_any: [health]\n"), "one deadline for every serious incident"),
])
def test_a_malformed_rules_file_is_refused_with_where(change, words):
    text = RULES_PATH.read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(RulesError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(text.replace(change[0], change[1], 1))
