"""The ``framework_controls`` check: the gate blocks iff an applicable control of the chosen framework
(or subset) is not met, names each such control and why, and agrees with the compliance pages, which
judge with the same code on the same snapshot. Property test over random facts, operator roles and
attestations; then a real gate call with the example policy in policies/examples/."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.policyfile import PolicyError
from compliance.choices import GpaiModel, OperatorRole
from compliance.facts import AttestationFact, ComplianceFacts, Profile
from compliance.loader import load_library
from compliance.selectors import Judge, compliance_many
from compliance.services import attestation_record, operator_profile_set
from governance.policy.engine import evaluate
from governance.policy.facts import SystemFacts
from governance.policy.loader import build_policy, load_policy_file, published_schema
from governance.selectors.facts import collect_facts_many, for_facts
from governance.services.gate import gate_check
from tests.conftest import make_ready
from tests.governance.test_policy_properties import NOW, facts_strategy

LIBRARY = load_library()
DEFAULT = load_policy_file()
DEFAULT_TEXT = (Path(django_settings.POLICY_DIR) / django_settings.READINESS_POLICY_FILE).read_text()
EXAMPLE = Path(django_settings.BASE_DIR) / "policies" / "examples" / "eu-ai-act-gate.yaml"
GATE_ID = "framework-gate"


def gated_policy(params: dict[str, object], environments: tuple[str, ...] = ("production",)) -> object:
    doc = yaml.safe_load(DEFAULT_TEXT)
    doc["requirements"].append({"id": GATE_ID, "title": "Framework controls met", "check": "framework_controls",
                                "params": params, "environments": list(environments), "fix": "Meet them."})
    return build_policy(Path("gated.yaml"), yaml.safe_dump(doc).encode())


def _selections() -> st.SearchStrategy[dict[str, object]]:
    choices = []
    for framework in LIBRARY.frameworks.values():
        families = [f.id for f in framework.families]
        ids = [c.id for c in framework.controls]
        choices.append(st.fixed_dictionaries({"framework": st.just(framework.id)}, optional={
            "families": st.lists(st.sampled_from(families), min_size=1, max_size=3, unique=True),
            "controls": st.lists(st.sampled_from(ids), min_size=1, max_size=6, unique=True),
            "count_as_met": st.lists(st.sampled_from(["met", "waived", "partially_met"]), min_size=1, unique=True),
            "include_upcoming": st.booleans(),
        }))
    return st.one_of(choices)


ALL_KEYS = sorted(c.key for f in LIBRARY.frameworks.values() for c in f.controls)
profiles = st.builds(Profile, role=st.sampled_from(list(OperatorRole.values)),
                     gpai_model=st.sampled_from(list(GpaiModel.values)), generative=st.booleans(),
                     derived=st.just(False), reason=st.just(""))
attestations = st.dictionaries(
    st.sampled_from(ALL_KEYS),
    # Fresh or past its expiry at NOW.
    st.integers(-30, 30).map(lambda days: (NOW - timedelta(days=60), NOW + timedelta(days=days, hours=1))),
    max_size=25,
).map(lambda found: {k: AttestationFact(k, "olga", "Checked and documented.", r, e) for k, (r, e) in found.items()})


@settings(max_examples=250, deadline=None)
@given(facts=facts_strategy, profile=profiles, attested=attestations, params=_selections())
def test_the_gate_blocks_iff_some_applicable_selected_control_is_unmet(facts, profile, attested, params):
    policy = gated_policy(params)
    facts = dataclasses.replace(facts, extra={"compliance": ComplianceFacts(profile, attested)})
    verdict = evaluate(policy, "production", facts, NOW)
    status, message = verdict.outcome_of(GATE_ID)
    # What the compliance page says, judged on the complete verdict (not the gate's partial one).
    judge = Judge(facts, profile, policy, verdict, "", NOW)
    framework = LIBRARY.frameworks[params["framework"]]
    wanted = [c for c in framework.controls
              if ("controls" not in params or c.id in params["controls"])
              and ("families" not in params or c.family in params["families"])]
    count_as_met = set(params.get("count_as_met", ["met", "waived"]))
    if not wanted:
        assert status == "failed" and "names no control" in message
        return
    unmet = []
    for control in wanted:
        r = judge.control(control, LIBRARY.mapping_for(policy.name, control.key), attested.get(control.key))
        if r.applicable and (r.in_force or params.get("include_upcoming")) and r.status not in count_as_met:
            unmet.append(r)
    if unmet:
        assert status in ("missing", "failed", "stale", "waived"), (status, message)
        assert verdict.verdict == "block" or status == "waived"
        for r in unmet:
            assert r.control.key in message
        # Missing, stale and failed never count as met, whatever the parameters say.
        assert not ({"missing", "stale", "failed", "not_applicable"} & count_as_met)
    else:
        assert status == "met", message


def test_unknown_framework_control_or_family_fails_closed_and_lint_refuses_bad_params():
    facts_ok = SystemFacts(slug="s", risk_tier="high", lifecycle_stage="production", data_categories=(), owners={},
                           extra={"compliance": ComplianceFacts(Profile("provider", "none", False, False, ""))})
    for params, said in (({"framework": "no-such"}, "no framework 'no-such' is loaded"),
                         ({"framework": "eu-ai-act", "controls": ["art-999"]}, "has no control 'art-999'"),
                         ({"framework": "eu-ai-act", "families": ["ch99"]}, "has no family 'ch99'")):
        status, message = evaluate(gated_policy(params), "production", facts_ok, NOW).outcome_of(GATE_ID)
        assert (status, said in message) == ("failed", True), message
    # The snapshot did not read the compliance facts: never a pass.
    bare = dataclasses.replace(facts_ok, extra={})
    status, message = evaluate(gated_policy({"framework": "iso-42001"}), "production", bare, NOW).outcome_of(GATE_ID)
    assert status == "missing" and "were not read" in message
    for bad, field in (({}, "params"), ({"framework": "eu-ai-act", "count_as_met": ["missing"]}, "count_as_met/0"),
                       ({"framework": "eu-ai-act", "colour": "red"}, "params")):
        with pytest.raises(PolicyError) as refused:
            gated_policy(bad)
        assert f"bad parameter {field} for check framework_controls" in str(refused.value), str(refused.value)
    schema = published_schema()
    assert "framework_controls" in schema["properties"]["requirements"]["items"]["properties"]["check"]["enum"]


def test_a_control_mapped_to_a_framework_controls_requirement_fails_on_the_gate_and_the_page():
    from compliance.loader import Mapping

    policy = gated_policy({"framework": "iso-42001"})
    facts = SystemFacts(slug="s", risk_tier="high", lifecycle_stage="production", data_categories=(), owners={},
                        extra={"compliance": ComplianceFacts(Profile("provider", "none", False, False, ""))})
    verdict = evaluate(policy, "production", facts, NOW)
    control = LIBRARY.frameworks["iso-42001"].controls[0]
    result = Judge(facts, Profile("provider", "none", False, False, ""), policy, verdict, "", NOW).control(
        control, Mapping(control.key, (GATE_ID,), False), None)
    assert result.status == "failed" and "cannot evidence a control" in result.evidence[0].message


@pytest.mark.django_db
def test_example_policy_blocks_a_real_gate_call_naming_unmet_controls_until_they_are_attested(
        request_in_review, personas):
    policy = load_policy_file(EXAMPLE)
    system = request_in_review.system
    owner = personas["owner"]
    system.__class__.objects.filter(pk=system.pk).update(risk_tier="high")
    make_ready(system, personas)
    operator_profile_set(actor=owner, system=system, role=OperatorRole.PROVIDER)

    def gate() -> tuple[str, dict[str, object]]:
        fresh = for_facts(type(system).objects.filter(pk=system.pk)).get()  # as the gate API reads it
        result = gate_check(user=owner, token=None, system=fresh, environment="production", policy=policy)
        mine = next(r for r in result.check.requirements if r["id"] == "eu-ai-act-high-risk")
        return result.check.verdict, mine

    verdict, mine = gate()
    assert verdict == "block" and mine["status"] != "met"
    unmet = {u["control"]: u for u in mine["evidence"]["unmet"]}
    assert unmet and all(key in mine["message"] for key in unmet)
    # The page judges the same controls the same way.
    fresh = for_facts(type(system).objects.filter(pk=system.pk)).get()
    page = {r.control.key: r for r in compliance_many([fresh], timezone.now())[system.pk].results["eu-ai-act"]}
    for key, u in unmet.items():
        assert page[key].status == u["status"], key
    required = set(mine["evidence"]["required"])
    assert all(page[k].status in ("met", "waived") for k in required - set(unmet))
    # Attest every unmet control that an attestation can settle; what remains must be exactly what the gate names.
    expires = timezone.now() + timedelta(days=30)
    for key in unmet:
        if all(e.kind == "attestation" or e.status in ("met", "waived") for e in page[key].evidence):
            attestation_record(actor=owner, system=system, control=key, expires_at=expires,
                               statement="Reviewed with the risk owner; records are in the QMS folder.")
    verdict, mine = gate()
    fresh = for_facts(type(system).objects.filter(pk=system.pk)).get()
    page = {r.control.key: r for r in compliance_many([fresh], timezone.now())[system.pk].results["eu-ai-act"]}
    still = {u["control"] for u in mine["evidence"]["unmet"]}
    assert still == {k for k in required if page[k].status not in ("met", "waived")}
    assert (verdict == "pass") == (not still) and len(still) < len(unmet)
    # Past the attestations' expiry the same controls are stale and the gate blocks again, naming them.
    later = expires + timedelta(minutes=1)
    facts = collect_facts_many([for_facts(type(system).objects.filter(pk=system.pk)).get()], later)[system.pk]
    status, message = evaluate(policy, "production", facts, later).outcome_of("eu-ai-act-high-risk")
    attested = set(unmet) - still
    assert status != "met" and all(f"{k} " in message for k in attested) and "stale" in message
