"""Every persona's home page and the dashboard in a real Chromium, at a laptop's width (1366 px) and a
phone's (390 px), on the demo portfolio: no page scrolls sideways, axe-core finds no serious or
critical accessibility violation, the CSP refuses nothing, the navigation fits one row at 1366 px for
the lead and the reviewers, and the account menu names the person.

axe-core comes from the npm registry, pinned by tests/axe/package-lock.json (`npm ci --prefix
tests/axe`, which .ci/run does); it is evaluated in the page through the DevTools protocol, which the
page's own script-src CSP does not govern, so the page under test keeps its real policy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group

from clearance.demo import DEMO_PASSWORD, seed_demo
from clearance.roles import Role
from tests.conftest import BROWSER_MARKS

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: run `npm ci --prefix tests/axe`"),
    pytest.mark.usefixtures("local_evidence_hosts"),
]

PERSONAS = ["requester", "engineer", "lead", "security", "legal", "privacy", "owner", "risk", "auditor", "admin"]
DASHBOARD_READERS = {"lead", "auditor", "admin"}
ONE_ROW = {"lead", "security", "legal", "privacy", "admin"}
WIDTHS = (1366, 390)


def axe_problems(page: Any) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def too_wide(page: Any) -> str:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width <= inner:
        return ""
    culprits = page.evaluate("""[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5)
        .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    return f"{width} px wide at {inner} px: {json.dumps(culprits)}"


@pytest.mark.django_db(transaction=True)
def test_homes_and_dashboard_at_laptop_and_phone_widths(browser: Any, live_server: Any) -> None:
    for role in Role:  # a transactional test before this one may have flushed the migration's groups
        Group.objects.get_or_create(name=role.value)
    seed_demo()
    failures: list[str] = []
    checked = 0
    for persona in PERSONAS:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        csp: list[str] = []
        page.on("console", lambda msg, csp=csp: csp.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(persona)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")
        paths = ["/"] + (["/dashboard/"] if persona in DASHBOARD_READERS else [])
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for path in paths:
                page.goto(f"{live_server.url}{path}")
                where = f"{persona} {path} at {width} px"
                assert page.locator("main h1").count() == 1, where
                if problem := too_wide(page):
                    failures.append(f"{where}: {problem}")
                failures += [f"{where}: {p}" for p in axe_problems(page)]
                checked += 1
                if shots := os.environ.get("CLEARANCE_SCREENSHOTS"):  # to look at the pages by eye
                    page.screenshot(path=f"{shots}/{persona}{path.replace('/', '_')}{width}.png", full_page=True)
                if width == 1366 and path == "/":
                    failures += _header_checks(page, persona, where)
        if csp:
            failures.append(f"{persona}: the CSP refused something: {csp}")
        context.close()
    assert not failures, "\n".join(failures)
    assert checked == 2 * (len(PERSONAS) + len(DASHBOARD_READERS))


def _header_checks(page: Any, persona: str, where: str) -> list[str]:
    problems = []
    # One row: every top-level item of the navigation sits on the same line.
    tops = page.evaluate("[...document.querySelectorAll('header.top nav > *')].map(e => Math.round(e.getBoundingClientRect().top))")
    if persona in ONE_ROW and len(set(tops)) != 1:
        problems.append(f"{where}: the navigation wraps onto {len(set(tops))} rows ({tops})")
    height = page.locator("header.top").bounding_box()["height"]
    if height > 60:
        problems.append(f"{where}: the header is {height:.0f} px high")
    account = page.locator("header.top .me summary")
    name = page.evaluate("document.querySelector('header.top .me summary').textContent")
    if persona == "requester" and "Priya Natarajan" not in name:
        problems.append(f"{where}: the account menu says {name!r}, not the person's name")
    # The menus open without script, inside the window (the account menu at the right edge too).
    account.click()
    if not page.get_by_role("link", name="Change password").is_visible():
        problems.append(f"{where}: the account menu does not open")
    if problem := too_wide(page):
        problems.append(f"{where} with the account menu open: {problem}")
    page.locator("header.top nav summary", has_text="Catalog").click()
    if not page.get_by_role("link", name="Ownership gaps").is_visible():
        problems.append(f"{where}: the Catalog menu does not open")
    if page.get_by_role("link", name="Change password").is_visible():
        problems.append(f"{where}: opening one menu leaves the other open")
    problems += [f"{where} with a menu open: {p}" for p in axe_problems(page)]
    page.keyboard.press("Escape")
    return problems
