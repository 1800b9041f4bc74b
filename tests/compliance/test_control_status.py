"""Control status is the gate's: a control mapped to one readiness requirement has exactly that
requirement's status in the engine's verdict (property test, hypothesis), and for a real system the
compliance status agrees with a real gate call. Applicability, attestations going stale, and fail
closed when the policy does not load."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now as timezone_now
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.services.systems import system_create
from clearance.errors import DomainError, NotAllowed
from clearance.models import AuditEvent
from compliance.choices import ControlStatus, GpaiModel, OperatorRole
from compliance.loader import load_library
from compliance.models import Attestation
from compliance.selectors import Profile, applicability, compliance_many, judge_control
from compliance.services import attestation_record, operator_profile_set
from governance.models import PolicyActivation
from governance.policy.engine import ABSENT, NOT_APPLICABLE, evaluate
from governance.policy.loader import load_policy_file, load_readiness_policy
from governance.selectors.facts import for_facts
from governance.services.gate import gate_check
from tests.conftest import make_ready
from tests.governance.test_policy_properties import NOW, facts_strategy

LIBRARY = load_library()
POLICY = load_policy_file()
SINGLE = sorted(
    (key, m.requirements[0]) for key, m in LIBRARY.mappings[POLICY.name].items()
    if len(m.requirements) == 1 and not m.attestation
)
profiles = st.builds(Profile, role=st.sampled_from(list(OperatorRole.values)),
                     gpai_model=st.sampled_from(list(GpaiModel.values)), generative=st.booleans(),
                     derived=st.just(False), reason=st.just(""))


def test_there_are_single_requirement_controls_in_every_shipped_framework():
    assert {key.split("/")[0] for key, _ in SINGLE} >= {"eu-ai-act", "nist-ai-rmf", "iso-42001"}


@settings(max_examples=300, deadline=None)
@given(facts=facts_strategy, profile=profiles, pick=st.sampled_from(SINGLE),
       environment=st.sampled_from(["production", "staging"]))
def test_a_control_mapped_to_one_requirement_has_that_requirements_status(facts, profile, pick, environment):
    key, requirement = pick
    control = LIBRARY.control(key)
    assert control is not None
    verdict = evaluate(POLICY, environment, facts, NOW)
    result = judge_control(control, LIBRARY.mapping_for(POLICY.name, key), facts, profile, POLICY, verdict, "",
                           None, NOW)
    applies, why = applicability(control, facts, profile)
    if not applies:  # the framework itself puts the control out of scope (role, tier, model kind)
        assert result.status == ControlStatus.NOT_APPLICABLE and result.reason == why and not result.evidence
        return
    status, message = verdict.outcome_of(requirement)
    if status in (NOT_APPLICABLE, ABSENT):
        assert result.status == ControlStatus.NOT_APPLICABLE and message in result.reason
    else:
        assert result.status == status
        assert result.evidence[0].message == message


@settings(max_examples=100, deadline=None)
@given(facts=facts_strategy, profile=profiles, statuses=st.lists(
    st.sampled_from(["met", "missing", "failed", "stale", "waived"]), min_size=2, max_size=4))
def test_combining_never_passes_missing_evidence(facts, profile, statuses):
    from compliance.selectors import Evidence, combine

    combined = combine([Evidence("requirement", f"r{i}", s, "") for i, s in enumerate(statuses)])
    if combined in ("met", "waived"):
        assert set(statuses) <= {"met", "waived"}
    if "failed" in statuses:
        assert combined == "failed"


@pytest.mark.django_db
def test_compliance_agrees_with_a_real_gate_call(request_in_review, personas):
    system = request_in_review.system
    policy = load_readiness_policy()
    compared = 0
    for step in ("as triaged", "made ready"):
        if step == "made ready":
            make_ready(system, personas)
        fresh = for_facts(type(system).objects.filter(pk=system.pk)).get()  # as the gate API reads it
        gate = gate_check(user=personas["owner"], token=None, system=fresh, environment="production", policy=policy)
        statuses = {r["id"]: r["status"] for r in gate.check.requirements}
        sc = compliance_many([fresh], gate.check.checked_at)
        for framework_results in sc[system.pk].results.values():
            for r in framework_results:
                mapping = LIBRARY.mapping_for(policy.name, r.control.key)
                for e in r.evidence:
                    if e.kind == "requirement":
                        assert e.status == statuses[e.ref], (step, r.control.key, e.ref)
                        compared += 1
                if len(mapping.requirements) == 1 and not mapping.attestation and r.applicable:
                    assert r.status == statuses[mapping.requirements[0]], (step, r.control.key)
    assert compared > 20


@pytest.mark.django_db
def test_statement_of_applicability_follows_role_and_tier(personas):
    lead = personas["lead"]
    high = system_create(actor=lead, name="Credit scoring", slug="credit", purpose="Scores", risk_tier="high")
    bought = system_create(actor=lead, name="Vendor chat", slug="vendor-chat", purpose="Chat", risk_tier="limited",
                           vendor="Acme AI")
    now = high.created_at + timedelta(minutes=1)
    got = compliance_many(list(for_facts(type(high).objects.filter(pk__in=[high.pk, bought.pk]))), now)
    eu_high = {r.control.id: r for r in got[high.pk].results["eu-ai-act"]}
    eu_bought = {r.control.id: r for r in got[bought.pk].results["eu-ai-act"]}
    assert got[high.pk].profile.role == "provider" and got[high.pk].profile.derived
    assert got[bought.pk].profile.role == "deployer"
    assert eu_high["art-9"].applicable and not eu_high["art-26"].applicable
    assert "binds deployer; we are the provider" == eu_high["art-26"].reason
    assert not eu_bought["art-26"].applicable and "for high-risk systems; this one is limited" in eu_bought["art-26"].reason
    assert eu_bought["art-50"].applicable and eu_bought["art-4"].applicable
    assert not eu_high["art-53"].applicable
    operator_profile_set(actor=lead, system=high, role="provider", gpai_model="gpai_systemic", generative=True)
    got = compliance_many(list(for_facts(type(high).objects.filter(pk=high.pk))), now)
    eu_high = {r.control.id: r for r in got[high.pk].results["eu-ai-act"]}
    assert eu_high["art-53"].applicable and eu_high["art-55"].applicable
    assert all(r.applicable for r in got[high.pk].results.get("nist-ai-600-1", []))
    assert AuditEvent.objects.filter(action="compliance.operator_profile").count() == 1


@pytest.mark.django_db
def test_an_attestation_meets_its_control_then_goes_stale_and_says_since_when(request_in_review, personas):
    system = request_in_review.system
    owner = personas["owner"]
    now = system.created_at + timedelta(minutes=1)
    sys_q = for_facts(type(system).objects.filter(pk=system.pk))
    # Read afresh each time: the for_facts columns say whether the system has attestations to read.
    art4 = lambda at: next(r for r in compliance_many(list(sys_q.all()), at)[system.pk].results["eu-ai-act"]  # noqa: E731
                           if r.control.id == "art-4")
    assert art4(now).status == "missing"
    with pytest.raises(NotAllowed):
        attestation_record(actor=personas["auditor"], system=system, control="eu-ai-act/art-4",
                           statement="Everyone did the AI literacy course in May.", expires_at=now + timedelta(days=30))
    with pytest.raises(DomainError) as bad:
        attestation_record(actor=owner, system=system, control="eu-ai-act/art-99",
                           statement="Everyone did the AI literacy course in May.", expires_at=now + timedelta(days=30))
    assert bad.value.field == "control"
    expires = now.replace(microsecond=0) + timedelta(days=30)
    attestation_record(actor=owner, system=system, control="eu-ai-act/art-4",
                       statement="Everyone did the AI literacy course in May.", expires_at=expires)
    assert Attestation.objects.count() == 1
    assert art4(now + timedelta(days=1)).status == "met"
    later = art4(expires + timedelta(seconds=1))
    assert later.status == "stale"
    assert f"stale since {expires:%Y-%m-%d %H:%M} UTC" in later.evidence[0].message


@pytest.mark.django_db
def test_no_active_policy_fails_closed(request_in_review, personas):
    system = request_in_review.system
    make_ready(system, personas)
    PolicyActivation.objects.all().delete()
    from governance.selectors.policy import clear_cache

    clear_cache()
    got = compliance_many(list(for_facts(type(system).objects.filter(pk=system.pk))), system.created_at)[system.pk]
    assert got.policy_error
    applicable = [r for rs in got.results.values() for r in rs if r.applicable]
    assert applicable and all(r.status == "failed" and got.policy_error in r.reason for r in applicable)


@pytest.mark.django_db
def test_obligation_calendar_lists_dates_and_what_is_not_met(personas, client):
    from datetime import UTC, datetime

    from compliance.selectors import obligation_calendar, portfolio_calendar

    lead = personas["lead"]
    high = system_create(actor=lead, name="Credit scoring", slug="credit", purpose="Scores", risk_tier="high")
    attestation_record(actor=lead, system=high, control="eu-ai-act/art-4",
                       statement="Everyone took the AI literacy course in May.",
                       expires_at=timezone_now() + timedelta(days=30))
    before = datetime(2026, 1, 15, tzinfo=UTC)
    per_system = compliance_many(list(for_facts(type(high).objects.filter(pk=high.pk))), before)
    calendar = obligation_calendar(per_system[high.pk], before)
    assert [(str(e.on), e.upcoming) for e in calendar] == [("2025-02-02", False), ("2026-08-02", True)]
    first = calendar[0]
    assert {r.control.id for r in first.controls} == {"art-4", "art-5"}
    # the art-4 attestation was made after `before`, so on that day neither is met
    assert sorted(r.control.id for r in first.unmet) == ["art-4", "art-5"]
    today = compliance_many(list(for_facts(type(high).objects.filter(pk=high.pk))), timezone_now())
    assert [r.control.id for r in obligation_calendar(today[high.pk], timezone_now())[0].unmet] == ["art-5"]
    assert {r.control.id for r in calendar[1].controls} >= {"art-9", "art-17", "art-43", "art-72", "art-73"}
    assert portfolio_calendar(per_system, before) == [
        (calendar[0].on, False, 1, 1), (calendar[1].on, True, 1, 1)]
    client.force_login(lead)
    html = client.get(f"/systems/{high.slug}/compliance/").content.decode()
    assert '<section class="card" id="calendar">' in html and "<strong>2026-08-02</strong>" in html
    assert "Dates of application" in client.get("/compliance/?framework=eu-ai-act").content.decode()
