"""The compliance pages: the statement of applicability with status, evidence and fix link; the
portfolio coverage per framework; bad attestation input refused by field with nothing written; and
query counts that do not grow with the number of systems."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import AISystem
from compliance.models import Attestation
from compliance.services import attestation_record
from governance.selectors.facts import for_facts
from tests.conftest import make_ready
from tests.governance.test_evidence_portfolio import add_system

pytestmark = pytest.mark.django_db


def test_system_page_shows_applicability_status_evidence_and_fix(client, request_in_review, personas):
    system = request_in_review.system
    client.force_login(personas["owner"])
    page = client.get(reverse("system-compliance", args=[system.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="fw-eu-ai-act"' in html and 'id="fw-nist-ai-rmf"' in html and 'id="fw-iso-42001"' in html
    # bought from a vendor, so assumed deployer until someone says otherwise; tier minimal
    assert "assumed: bought from Azure OpenAI gpt-4o" in html
    assert "no: binds provider; we are the deployer" in html  # Art. 9 and the other provider duties
    assert "no: for high-risk systems; this one is minimal" in html  # Art. 26
    # a requirement-backed control links to the readiness section where its fix lives
    assert f'href="/systems/{system.slug}/#env-production">model-card-published</a>' in html
    assert "Write the model card on the system page and publish it." in html
    # an attestation-backed control offers to attest it
    assert "?control=eu-ai-act/art-4#attest" in html
    assert 'action="/systems/support-copilot/compliance/attest/"' in html
    client.force_login(personas["auditor"])
    html = client.get(reverse("system-compliance", args=[system.slug])).content.decode()
    assert "Attest a control" not in html and "#attest" not in html


def test_an_attestation_posted_on_the_page_meets_the_control(client, request_in_review, personas):
    system = request_in_review.system
    client.force_login(personas["owner"])
    url = reverse("compliance-attest", args=[system.slug])
    due = (timezone.now() + timedelta(days=90)).date()
    response = client.post(url, {"control": "eu-ai-act/art-4", "statement": "All owners took the AI literacy course.",
                                 "evidence_url": "https://lms.example.com/report/42", "expires_on": due.isoformat()})
    assert response.status_code == 302
    html = client.get(reverse("system-compliance", args=[system.slug])).content.decode()
    assert f"valid until {due:%Y-%m-%d}: All owners took the AI literacy course." in html


@pytest.mark.parametrize(("body", "label"), [
    ({"control": "eu-ai-act/art-4", "statement": "too short", "expires_on": "+30"}, "Statement"),
    ({"control": "eu-ai-act/art-4", "statement": "All owners took the AI literacy course.", "expires_on": "-1"},
     "Expires"),
    ({"control": "eu-ai-act/art-4", "statement": "All owners took the AI literacy course.", "expires_on": "+900"},
     "Expires"),
    ({"control": "eu-ai-act/art-404", "statement": "All owners took the AI literacy course.", "expires_on": "+30"},
     "Select a valid choice"),
    ({"control": "eu-ai-act/art-4", "statement": "All owners took the AI literacy course.", "expires_on": "soon"},
     "Enter a valid date"),
])
def test_bad_attestation_input_is_refused_by_field_and_writes_nothing(client, request_in_review, personas, body, label):
    client.force_login(personas["owner"])
    if body["expires_on"][0] in "+-":
        body = {**body, "expires_on": (timezone.now() + timedelta(days=int(body["expires_on"]))).date().isoformat()}
    response = client.post(reverse("compliance-attest", args=[request_in_review.system.slug]), body)
    assert response.status_code == 400
    assert label in response.content.decode()
    assert Attestation.objects.count() == 0


def test_coverage_page_shares_and_family_table(client, personas):
    ready = add_system(personas, "ready-one", "limited")
    add_system(personas, "bare-one", "minimal", owners=False, card=False, runbook=False, metrics=())
    client.force_login(personas["lead"])
    html = client.get(reverse("compliance-coverage") + "?framework=iso-42001").content.decode()
    assert "ISO/IEC 42001 Annex A" in html and "applicable controls across 2 systems" in html
    assert f'href="/systems/{ready.slug}/compliance/#fw-iso-42001"' in html
    assert '<th class="req" scope="col" title="AI system life cycle">A.6</th>' in html
    assert client.get(reverse("compliance-coverage") + "?framework=nope").status_code == 404
    only_limited = client.get(reverse("compliance-coverage") + "?framework=iso-42001&tier=limited").content.decode()
    assert "applicable controls across 1 systems" in only_limited and "bare-one" not in only_limited


def test_coverage_counts_only_met_and_agrees_with_the_system_pages(client, personas, request_in_review):
    from compliance.selectors import compliance_many, coverage
    from governance.selectors.facts import for_facts

    make_ready(request_in_review.system, personas)
    systems = list(for_facts(type(request_in_review.system).objects.all()))
    now = timezone.now()
    cov = coverage("nist-ai-rmf", systems, now)
    per_system = compliance_many(systems, now, frameworks=["nist-ai-rmf"])
    met = sum(1 for sc in per_system.values() for r in sc.results["nist-ai-rmf"] if r.status == "met")
    applicable = sum(1 for sc in per_system.values() for r in sc.results["nist-ai-rmf"] if r.applicable)
    assert (cov.met, cov.applicable) == (met, applicable) and 0 < met < applicable


def _queries(client, url: str, cold: bool = True) -> int:
    from compliance import cache

    if cold:  # the bound that matters: every system judged afresh (warm, only the changed ones are)
        cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_systems(client, personas):
    client.force_login(personas["lead"])
    for n in range(3):
        add_system(personas, f"sys-{n}", "high", data=("personal",))
    # Systems with neither an attestation nor an operator role cost no query for those (compliance.facts):
    # give one of each batch an attestation so both counts include the two that read them.
    Attestation.objects.create(system=AISystem.objects.get(slug="sys-0"), control="eu-ai-act/art-4",
                               owner=personas["lead"], statement="x" * 30, expires_at=timezone.now() + timedelta(days=3))
    url = reverse("compliance-coverage") + "?framework=eu-ai-act"
    client.get(url)  # warm-up: the active policy is built once per process
    few = _queries(client, url)
    system_few = _queries(client, reverse("system-compliance", args=["sys-0"]))
    for n in range(3, 15):
        add_system(personas, f"sys-{n}", ["high", "limited", "minimal"][n % 3], data=("personal",))
    for slug in ("sys-5", "sys-14"):
        Attestation.objects.create(system=AISystem.objects.get(slug=slug), control="eu-ai-act/art-4",
                                   owner=personas["lead"], statement="x" * 30, expires_at=timezone.now() + timedelta(days=3))
    many = _queries(client, url)
    assert many == few, (few, many)
    assert _queries(client, reverse("system-compliance", args=["sys-14"])) == system_few
    assert many <= 20


def test_csv_has_every_control_for_every_visible_system_and_defuses_formulas(client, personas):
    import csv as csv_module
    import io

    add_system(personas, "csv-a", "high")
    hostile = add_system(personas, "csv-b", "minimal", owners=False, card=False, runbook=False, metrics=())
    AISystem.objects.filter(pk=hostile.pk).update(name="=HYPERLINK(\"https://evil.example\")")
    client.force_login(personas["lead"])
    response = client.get(reverse("compliance-csv") + "?framework=nist-ai-rmf")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv_module.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2 * 72
    assert {r["system"] for r in rows} == {"csv-a", "csv-b"}
    assert all(r["system_name"][0] != "=" for r in rows)
    assert any(r["system_name"].startswith("'=HYPERLINK") for r in rows)
    measured = next(r for r in rows if r["system"] == "csv-a" and r["control"] == "MEASURE 2.3")
    assert measured["status"] == "met" and "evaluation-threshold: met" in measured["evidence"]
    everything = client.get(reverse("compliance-csv"))
    assert len(everything.content.decode().splitlines()) == 1 + 2 * 144
    client.force_login(personas["outsider"])
    assert len(client.get(reverse("compliance-csv")).content.decode().splitlines()) == 1


def test_a_broken_framework_library_shows_why_and_no_status(client, personas, request_in_review, settings, tmp_path):
    from tests.compliance.test_framework_library import _copy_library

    directory = _copy_library(tmp_path)
    iso = directory / "iso-42001.yaml"
    iso.write_text(iso.read_text().replace("{id: A.2.3,", "{id: A.2.2,"))
    settings.FRAMEWORK_DIR = directory
    client.force_login(personas["lead"])
    for url in (reverse("compliance-coverage"), reverse("system-compliance", args=[request_in_review.system.slug]),
                reverse("compliance-csv")):
        response = client.get(url)
        assert response.status_code == 503, url
        assert f"{iso}:" in response.content.decode() and "duplicate control id" in response.content.decode()
    response = client.post(reverse("compliance-attest", args=[request_in_review.system.slug]),
                           {"control": "eu-ai-act/art-4", "statement": "All owners took the AI literacy course.",
                            "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat()})
    assert response.status_code == 503 and Attestation.objects.count() == 0


def test_queries_stay_bounded_at_1000_systems_and_300_controls(client, personas, settings, tmp_path):
    """The issue's scale: 1,000 systems × a 300-control framework. Queries do not grow with controls
    and grow with systems only by one facts snapshot per 200 (compliance.selectors.FACTS_CHUNK)."""
    from compliance.selectors import FACTS_CHUNK
    from tests.compliance.test_framework_library import _copy_library

    directory = _copy_library(tmp_path)
    lines = ["# Source: generated for this test. Licence: Apache-2.0.", "apiVersion: clearance/v1",
             "kind: Framework", "id: big", "name: Big", "version: '1'",
             "source: {title: generated, url: 'https://example.com', note: generated}", "licence: Apache-2.0",
             "families:", *[f"  - {{id: F{f}, title: Family {f}}}" for f in range(10)], "controls:",
             *[f"  - {{id: C{n}, family: F{n % 10}, title: Control {n}, summary: Control {n}.}}" for n in range(300)]]
    (directory / "big.yaml").write_text("\n".join(lines) + "\n")
    (directory / "mappings" / "big.yaml").write_text("\n".join([
        "# Source: generated. Licence: Apache-2.0.", "apiVersion: clearance/v1", "kind: FrameworkMapping",
        "policy: default", "mappings:",
        *[f"  - {{control: big/C{n}, requirements: [{['owners-assigned', 'runbook-linked'][n % 2]}]}}"
          for n in range(0, 300, 3)]]) + "\n")
    settings.FRAMEWORK_DIR = directory
    lead = personas["lead"]
    AISystem.objects.bulk_create([
        AISystem(slug=f"s-{n:04d}", name=f"S {n:04d}", purpose="p", risk_tier=["high", "limited", "minimal"][n % 3],
                 lifecycle_stage="production", business_owner=lead, technical_owner=lead, risk_owner=lead,
                 vendor="Acme" if n % 2 else "") for n in range(1000)])
    client.force_login(lead)
    client.get(reverse("compliance-coverage") + "?framework=big")  # warm-up: the active policy is built once
    big = _queries(client, reverse("compliance-coverage") + "?framework=big")
    small = _queries(client, reverse("compliance-coverage") + "?framework=nist-ai-600-1")
    assert big == small  # 300 controls cost no more queries than 12
    html = client.get(reverse("compliance-coverage") + "?framework=big").content.decode()
    assert "across 1000 systems" in html
    AISystem.objects.filter(slug__gte="s-0800").delete()  # 800 systems: one facts chunk fewer
    fewer = _queries(client, reverse("compliance-coverage") + "?framework=big")
    per_chunk = big - fewer
    assert 0 < per_chunk <= 10 and big <= 1000 // FACTS_CHUNK * per_chunk + 15, (big, fewer)


def test_coverage_from_cached_statuses_never_differs_from_a_fresh_computation(client, personas):
    """The cache keeps each system's statuses under its facts version, the policy and library versions,
    the owners and the moments time alone changes them: after each kind of change the warm page says
    what a cold one says, and a warm page with nothing changed judges no system again."""
    from compliance import cache
    from compliance.selectors import coverage

    client.force_login(personas["lead"])
    for n in range(4):
        add_system(personas, f"sys-{n}", ["high", "limited"][n % 2], data=("personal",))
    systems = lambda: list(for_facts(AISystem.objects.all()).order_by("name"))  # noqa: E731

    def same(now) -> None:
        warm = coverage("eu-ai-act", systems(), now)
        cache.clear()
        cold = coverage("eu-ai-act", systems(), now)
        assert (warm.met, warm.applicable, warm.totals, [r[1:] for r in warm.rows], warm.calendar) == (
            cold.met, cold.applicable, cold.totals, [r[1:] for r in cold.rows], cold.calendar)

    now = timezone.now()
    coverage("eu-ai-act", systems(), now)
    before = dict(cache.stats)
    same(now)
    assert cache.stats["hits"] - before["hits"] == 4 and cache.stats["misses"] - before["misses"] == 4  # warm, then cold
    url = reverse("compliance-coverage") + "?framework=eu-ai-act"
    assert _queries(client, url, cold=False) < _queries(client, url)
    system = AISystem.objects.get(slug="sys-0")
    # An attestation (a fact: bumps the facts version), then past its expiry (time alone).
    expires = timezone.now() + timedelta(days=2)
    attestation_record(actor=personas["lead"], system=system, control="eu-ai-act/art-4",
                       statement="Everyone took the AI literacy course in May.", expires_at=expires)
    same(timezone.now())
    same(expires + timedelta(minutes=1))
    # An owner's account deactivated: no facts version moves, the owners' state does.
    owner_id = system.business_owner_id or system.technical_owner_id or system.risk_owner_id
    assert owner_id is not None
    User.objects.filter(pk=owner_id).update(is_active=False)
    same(timezone.now())
