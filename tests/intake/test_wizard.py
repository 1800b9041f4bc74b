"""The guided request form through its pages: each step validates on its own, keeps what was typed,
saves the draft, shows conditional sections only when they apply, and submits from the review."""

from __future__ import annotations

import pytest

from intake.models import UseCaseRequest

pytestmark = pytest.mark.django_db

PROBLEM = {"title": "Support ticket summaries", "department": "Customer Support",
           "problem": "Agents read long threads.", "business_outcome": "Faster replies.",
           "kpi": "Average handling time", "kpi_baseline": "14 min (Q3 report)", "kpi_target": "10 min"}


def step(client, req, slug, data, action="next"):
    return client.post(f"/requests/{req.pk}/steps/{slug}/", {**data, "action": action})


def fill_all(client, req, *, personal=True, annex=False):
    step(client, req, "alternatives", {"alternatives_considered": ["rules"], "why_ai": "Free text in 12 languages.",
                                       "deterministic_parts": "Routing stays rules."})
    people = {"users_affected": "Support agents", "human_in_the_loop": "on", "fallback": "Agents read the thread."}
    if annex:
        people |= {"touches_annex_iii": "on", "annex_iii_area": "employment", "annex_iii_details": "Ranks CVs."}
    step(client, req, "people", people)
    data = {"data_categories": ["personal"] if personal else ["confidential"], "data_sources": "Zendesk"}
    if personal:
        data |= {"privacy_lawful_basis": "legitimate_interests", "privacy_data_subjects": "Customers",
                 "privacy_retention": "30 days"}
    step(client, req, "data", data)
    step(client, req, "vendor", {"vendor_model": "Azure OpenAI gpt-4o", "expected_volume": "2,000 a day",
                                 "latency_target": "3 s", "monthly_budget": "1200"})


def test_first_step_names_missing_fields_keeps_what_was_typed_and_creates_nothing(client, personas):
    client.force_login(personas["requester"])
    response = client.post("/requests/start/", {"title": "Support ticket summaries", "problem": "Long threads",
                                                "action": "next"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_kpi_baseline_error"' in html and "KPI baseline (today&#x27;s value): This field is required." in html
    assert 'aria-describedby="id_kpi_baseline_error id_kpi_baseline_helptext"' in html
    assert 'value="Support ticket summaries"' in html and "Long threads" in html
    assert not UseCaseRequest.objects.exists()


def test_steps_save_resume_and_submit_with_the_tier_and_its_rules(client, personas):
    client.force_login(personas["requester"])
    response = client.post("/requests/start/", {**PROBLEM, "action": "next"})
    req = UseCaseRequest.objects.get()
    assert response.url == f"/requests/{req.pk}/steps/alternatives/"
    assert req.status == "draft" and req.kpi_baseline == "14 min (Q3 report)" and req.department == "Customer Support"
    # Resuming lands on the first step with missing answers.
    assert client.get(f"/requests/{req.pk}/steps/resume/").url == f"/requests/{req.pk}/steps/alternatives/"
    fill_all(client, req, annex=True)
    response = step(client, req, "owners", {"business_owner_candidate": personas["owner"].pk})
    assert response.url == f"/requests/{req.pk}/steps/review/"
    review = client.get(response.url).content.decode()
    assert "Suggested risk tier" in review and "eu-ai-act-annex-iii" in review and "High" in review
    response = client.post(f"/requests/{req.pk}/steps/review/", {"action": "submit"})
    req.refresh_from_db()
    assert response.url == f"/requests/{req.pk}/" and req.status == "submitted"
    assert req.suggested_tier == "high" and req.annex_iii_area == "employment"
    assert req.business_owner_candidate == personas["owner"] and str(req.monthly_budget) == "1200.00"


def test_privacy_section_only_with_personal_data_and_required_then(client, personas):
    client.force_login(personas["requester"])
    client.post("/requests/start/", {**PROBLEM, "action": "next"})
    req = UseCaseRequest.objects.get()
    page = client.get(f"/requests/{req.pk}/steps/data/").content.decode()
    assert "Lawful basis" not in page and 'id="section-privacy"' in page
    response = step(client, req, "data", {"data_categories": ["confidential"], "data_sources": "ERP"})
    assert response.status_code == 302
    response = step(client, req, "data", {"data_categories": ["personal"], "data_sources": "CRM"})
    assert response.status_code == 400
    assert "Lawful basis: This field is required." in response.content.decode()
    # htmx preview: the section appears without saving anything.
    preview = client.post(f"/requests/{req.pk}/steps/data/", {"data_categories": ["special_category"], "_preview": "1"},
                          headers={"HX-Request": "true"})
    assert "Lawful basis" in preview.content.decode() and "<html" not in preview.content.decode()
    req.refresh_from_db()
    assert req.data_categories == ["confidential"]


def test_annex_iii_questions_only_when_the_use_touches_those_areas(client, personas):
    client.force_login(personas["requester"])
    client.post("/requests/start/", {**PROBLEM, "action": "next"})
    req = UseCaseRequest.objects.get()
    page = client.get(f"/requests/{req.pk}/steps/people/").content.decode()
    assert "Area of use" not in page
    response = step(client, req, "people", {"users_affected": "Applicants", "fallback": "Manual screening",
                                            "touches_annex_iii": "on"})
    assert response.status_code == 400 and "Area of use (EU AI Act Annex III): This field is required." in response.content.decode()
    step(client, req, "people", {"users_affected": "Applicants", "fallback": "Manual", "touches_annex_iii": "on",
                                 "annex_iii_area": "employment", "annex_iii_details": "Shortlists"})
    req.refresh_from_db()
    assert req.annex_iii_area == "employment"
    # Unticking the gate drops the area, so it no longer drives the tier.
    step(client, req, "people", {"users_affected": "Applicants", "fallback": "Manual"})
    req.refresh_from_db()
    assert req.annex_iii_area == "none" and not req.touches_annex_iii


def test_save_draft_keeps_an_incomplete_step_and_review_refuses_to_submit_with_gaps(client, personas):
    client.force_login(personas["requester"])
    response = client.post("/requests/start/", {"title": "Half an idea", "action": "save"})
    req = UseCaseRequest.objects.get()
    assert response.url == f"/requests/{req.pk}/"
    response = client.post(f"/requests/{req.pk}/steps/review/", {"action": "submit"})
    assert response.status_code == 400 and "Still needed" in response.content.decode()
    req.refresh_from_db()
    assert req.status == "draft"
    # A bad value is refused even for a draft save, by field.
    response = step(client, req, "vendor", {"monthly_budget": "lots"}, action="save")
    assert response.status_code == 400 and "Monthly budget (EUR): Enter a number." in response.content.decode()


def test_only_the_requester_walks_the_steps(client, personas):
    client.force_login(personas["requester"])
    client.post("/requests/start/", {**PROBLEM, "action": "next"})
    req = UseCaseRequest.objects.get()
    client.force_login(personas["lead"])
    assert client.get(f"/requests/{req.pk}/steps/problem/").status_code == 403
    client.force_login(personas["outsider"])
    assert client.get(f"/requests/{req.pk}/steps/problem/").status_code == 404


def _done_steps(html: str) -> list[str]:
    import re

    # A step marked complete (✓), current or not.
    return re.findall(r'<li class="[\w ]*">\s*<a href="/requests/\d+/steps/([\w-]+)/"[^>]*>[^<]*</a>\s*'
                      r'<span class="visually-hidden">\(complete\)</span> ✓', html)


def test_step_navigation_shows_a_step_s_real_state(client, personas):
    """✓ only on a step with nothing that stops the submission, never on the step just refused."""
    client.force_login(personas["requester"])
    client.post("/requests/start/", {**PROBLEM, "action": "next"})
    req = UseCaseRequest.objects.get()
    fill_all(client, req)
    review = client.get(f"/requests/{req.pk}/steps/review/").content.decode()
    assert "problem" in _done_steps(review) and "alternatives" in _done_steps(review)
    # The problem step refused (its answer emptied): it is not shown as complete on its own page.
    refused = step(client, req, "problem", {**PROBLEM, "problem": ""})
    assert refused.status_code == 400
    assert "problem" not in _done_steps(refused.content.decode())
    # An answer too short for triage (the completeness rule) also keeps its step from the ✓.
    step(client, req, "alternatives", {"alternatives_considered": ["rules"], "why_ai": "Text.",
                                       "deterministic_parts": "Routing stays rules."}, action="save")
    review = client.get(f"/requests/{req.pk}/steps/review/").content.decode()
    assert "alternatives" not in _done_steps(review), "why AI is one word: triage needs more"
    assert "problem" in _done_steps(review)
