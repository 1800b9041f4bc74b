"""The intake path in a real browser (Debian's Chromium driven by Playwright) against a live
server: a requester walks every step of the guided form (the privacy section appears through
htmx without a reload), the governance lead triages, two reviewers approve in their own queues,
and after a material change the approval lapses and the reviewer sees what changed."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.services.systems import system_update
from governance.models import Review
from governance.tasks import recompute_readiness
from intake.models import UseCaseRequest
from tests.conftest import BROWSER_MARKS, PASSWORD

pytestmark = BROWSER_MARKS


def login(browser: Any, live_server: Any, username: str, problems: list[str]) -> Any:
    page = browser.new_context().new_page()
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


@pytest.mark.django_db(transaction=True)
def test_request_through_every_step_triage_two_approvals_and_a_lapse(browser, live_server, personas, tmp_path):
    problems: list[str] = []
    page = login(browser, live_server, "requester", problems)
    page.locator("nav summary", has_text="Requests").click()
    page.get_by_role("link", name="New request").first.click()

    # 1. Problem and KPI: a missing answer is named next to its field, typed text stays.
    page.get_by_label("Title").fill("Support ticket summaries")
    page.get_by_label("Business problem").fill("Agents read long ticket threads before replying.")
    page.get_by_role("button", name="Save and continue").click()
    assert "This field is required" in page.locator("#id_kpi_baseline_error").inner_text()
    assert page.get_by_label("KPI baseline (today's value)").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Title").input_value() == "Support ticket summaries"
    page.get_by_label("Department").fill("Customer Support")
    page.get_by_label("Business outcome", exact=True).fill("Faster first replies.")
    page.get_by_label("KPI", exact=True).fill("Average handling time")
    page.get_by_label("KPI baseline (today's value)").fill("14 min (Q3 service report)")
    page.get_by_role("button", name="Save and continue").click()

    # 2. Should this use AI at all?
    page.wait_for_url("**/steps/alternatives/")
    page.get_by_label("Rules or a deterministic workflow").check()
    page.get_by_label("Why AI?").fill("Threads are free text in 12 languages.")
    page.get_by_label("Parts that stay deterministic").fill("Routing and SLAs stay rules.")
    page.get_by_role("button", name="Save and continue").click()

    # 3. People and oversight.
    page.wait_for_url("**/steps/people/")
    assert page.get_by_label("Area of use (EU AI Act Annex III)").count() == 0
    page.get_by_label("Who is affected?").fill("Support agents")
    page.get_by_label("Fallback when the model is wrong or unavailable").fill("Agents read the thread as today.")
    page.get_by_role("button", name="Save and continue").click()

    # 4. Data: ticking personal data brings the privacy section in without a page load.
    page.wait_for_url("**/steps/data/")
    marker = page.evaluate("() => { window.__sameDocument = true; return true; }")
    assert marker
    assert page.get_by_label("Lawful basis").count() == 0
    page.get_by_label("Personal data", exact=True).check()
    page.get_by_label("Lawful basis").wait_for()
    assert page.evaluate("() => window.__sameDocument === true"), "the section came by htmx, not a reload"
    page.get_by_label("Data sources").fill("Zendesk tickets of the last 12 months")
    page.get_by_label("Lawful basis").select_option("legitimate_interests")
    page.get_by_label("Data subjects").fill("Customers who write to support")
    page.get_by_label("Retention").fill("30 days, then deleted")
    page.get_by_role("button", name="Save and continue").click()

    # 5. Vendor, volume and cost.
    page.wait_for_url("**/steps/vendor/")
    page.get_by_label("Vendor or model in mind").fill("Azure OpenAI gpt-4o")
    page.get_by_label("Expected volume (e.g. 2,000 requests a day)").fill("2,000 a day")
    page.get_by_label("Monthly budget (EUR)").fill("1200")
    page.get_by_role("button", name="Save and continue").click()

    # 6. Owners, then the review with the suggested tier and the rules behind it.
    page.wait_for_url("**/steps/owners/")
    page.get_by_label("Business owner candidate").select_option(label="Owner (owner)")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/steps/review/")
    assert "Suggested risk tier" in page.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "review-step.png"), full_page=True)
    page.get_by_role("button", name="Submit for triage").click()
    page.wait_for_url("**/requests/*/")
    req = UseCaseRequest.objects.get()
    assert req.status == "submitted" and req.privacy_lawful_basis == "legitimate_interests"

    # Triage by the governance lead.
    lead = login(browser, live_server, "lead", problems)
    lead.locator("nav summary", has_text="Requests").click()
    lead.get_by_role("link", name="Triage", exact=True).click()
    lead.get_by_role("link", name="Support ticket summaries").click()
    lead.get_by_role("button", name="Start triage").click()
    lead.get_by_role("button", name="Confirm tier").click()
    assert "Risk tier set" in lead.locator("main").inner_text()
    lead.get_by_label("Slug").fill("support-copilot")
    lead.get_by_role("button", name="Create system").click()
    lead.get_by_label("Privacy", exact=False).uncheck()
    lead.get_by_role("button", name="Open reviews").click()
    assert set(Review.objects.filter(request=req).values_list("kind", flat=True)) == {"security", "legal"}

    # The owner names the model before the reviews decide (a later change of it is material).
    req.refresh_from_db()
    system_update(actor=personas["owner"], system=req.system, model_name="gpt-4o", model_version="2024-08-06")

    # Two reviewers approve in their own queues.
    for kind, label in (("security", "Security queue"), ("legal", "Legal queue")):
        reviewer = login(browser, live_server, kind, problems)
        reviewer.locator("nav summary", has_text="Reviews").click()
        reviewer.get_by_role("link", name=label).click()
        reviewer.get_by_role("link", name=f"{req.reference} Support ticket summaries").click()
        reviewer.get_by_role("button", name="Claim this review").click()
        reviewer.get_by_label("Approved").check()
        reviewer.get_by_label("Rationale").fill(f"{kind} checked the vendor terms.")
        reviewer.get_by_role("button", name="Record decision").click()
        assert "Decision recorded" in reviewer.locator("main").inner_text()
    req.refresh_from_db()
    assert req.status == "approved"

    # A material change (a new model version), as the settings page and the worker would make it.
    system_update(actor=personas["owner"], system=req.system, model_version="2024-11-20")
    recompute_readiness(system_id=req.system_id, reason="settings changed")
    security = login(browser, live_server, "security", problems)
    security.locator("nav summary", has_text="Reviews").click()
    security.get_by_role("link", name="Security queue").click()
    assert "approval lapsed" in security.locator("main").inner_text()
    security.get_by_role("link", name=f"{req.reference} Support ticket summaries").click()
    text = security.locator("main").inner_text()
    assert "The earlier approval lapsed" in text and "Model version" in text and "2024-11-20" in text
    security.screenshot(path=str(tmp_path / "lapsed.png"), full_page=True)
    req.refresh_from_db()
    assert req.status == "in_review"
    assert not problems, problems
