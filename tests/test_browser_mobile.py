"""A phone (390 px wide) in a real Chromium against a live server with the demo portfolio: the home
page, a system page and a review queue do not scroll sideways (a wide table scrolls inside its own
box), and the navigation is folded behind a "Menu" toggle that opens without any script."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from catalog.models import AISystem
from clearance.demo import DEMO_PASSWORD, seed_demo
from clearance.roles import Role
from tests.conftest import BROWSER_MARKS

pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("local_evidence_hosts")]

WIDTH = 390


def _overflow(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.django_db(transaction=True)
def test_pages_fit_a_phone_and_the_menu_folds(browser, live_server) -> None:
    # A transactional test before this one may have flushed the role groups a migration creates.
    for role in Role:
        Group.objects.get_or_create(name=role.value)
    seed_demo()
    # The system with the most on its page: the one with the most reviews and evidence.
    system = max(AISystem.objects.all(), key=lambda s: s.eval_results.count() + s.reviews.count())
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    page = context.new_page()
    csp: list[str] = []
    page.on("console", lambda msg: csp.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")

    review = system.reviews.order_by("pk").first()
    paths = ["/", f"/systems/{system.slug}/", "/reviews/queue/security/", "/triage/", "/requests/", "/requests/new/",
             "/systems/", "/readiness/", "/evidence/", "/audit/", "/notifications/", "/datasets/", "/vendors/"]
    if review is not None:
        paths.append(f"/reviews/{review.pk}/")
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("main h1").count() == 1, path
        scroll_width, inner_width = _overflow(page)
        assert inner_width == WIDTH
        wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))""")
        assert scroll_width <= inner_width, f"{path} is {scroll_width} px wide at {inner_width} px: {wide}"

    # The navigation is folded: its links are hidden until the menu opens, then they are there.
    nav = page.get_by_role("navigation", name="Main")
    assert not nav.is_visible()
    header_height = page.locator("header.top").bounding_box()["height"]
    assert header_height < 80, header_height
    page.get_by_text("Menu", exact=True).click()
    assert nav.is_visible()
    nav.locator("summary", has_text="Catalog").click()
    nav.get_by_role("link", name="Systems").click()
    page.wait_for_url(f"{live_server.url}/systems/")
    assert _overflow(page)[0] <= WIDTH
    assert not csp, csp

    # At desktop width the toggle is gone and the navigation shows as before.
    page.set_viewport_size({"width": 1366, "height": 900})
    assert nav.is_visible() and not page.get_by_text("Menu", exact=True).is_visible()
    context.close()
