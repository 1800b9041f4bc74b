"""A real browser (Debian's Chromium driven by Playwright) against a live server: the requester's
form works by its labels, shows errors next to the fields, and submits."""

from __future__ import annotations

import re

import pytest

from intake.models import UseCaseRequest
from tests.conftest import BROWSER_MARKS, PASSWORD

pytestmark = BROWSER_MARKS


@pytest.mark.django_db(transaction=True)
def test_requester_submits_a_request_in_a_real_browser(page, live_server, personas, tmp_path):
    csp_violations: list[str] = []
    page.on("console", lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("requester")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/requests/new/")  # the one-page form; the guided form has its own test

    page.get_by_label("Title").fill("Support ticket summaries")
    page.get_by_role("button", name="Save and submit").click()
    error = page.locator("#id_problem_error")
    assert "this answer is needed before the request goes to triage" in error.inner_text()
    assert page.get_by_label("Business problem").get_attribute("aria-invalid") == "true"

    page.get_by_label("Business problem").fill("Agents read long ticket threads before replying.")
    page.get_by_label("Business outcome and KPI (with today's baseline)").fill("Handling time 14 → 10 minutes.")
    page.get_by_label("Why AI?").fill("Threads are free text.")
    page.get_by_label("Rules or a deterministic workflow").check()
    page.get_by_label("Personal data", exact=True).check()
    page.get_by_role("button", name="Save and submit").click()
    page.wait_for_url("**/requests/*/")
    assert "Submitted" in page.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "request.png"), full_page=True)
    request = UseCaseRequest.objects.get()
    assert request.status == "submitted" and request.data_categories == ["personal"]
    assert not csp_violations, csp_violations


@pytest.mark.django_db(transaction=True)
def test_signing_in_locks_after_failures_and_the_password_is_changed_from_the_menu(page, live_server, personas,
                                                                                   settings):
    settings.AXES_FAILURE_LIMIT = 3
    page.goto(f"{live_server.url}/login/")
    for _ in range(3):
        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill("a wrong guess")
        page.get_by_role("button", name="Log in").click()
    assert "Try again in 15 minutes." in page.get_by_role("alert").inner_text()

    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert "Try again in" in page.locator("main").inner_text(), "the same address is paused for every account"

    from axes.models import AccessAttempt

    AccessAttempt.objects.all().delete()  # the administrator lifts the lock (as `manage.py axes_reset` does)
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("header .me summary").click()  # the account menu, named after the person
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label(re.compile(r"^New password:?$")).fill("a fresh passphrase 2027")
    page.get_by_label("New password confirmation").fill("a fresh passphrase 2027")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/password/changed/")
    assert "Your password has been changed" in page.locator("main").inner_text()
    personas["owner"].refresh_from_db()
    assert personas["owner"].check_password("a fresh passphrase 2027")
