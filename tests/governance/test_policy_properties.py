"""Property-based tests of the engine (hypothesis): whatever the facts and the policy, a pass means
every applicable requirement is met or waived by a live waiver; adding a requirement never turns a
block into a pass; a check that raises never passes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.choices import RiskTier
from governance.policy import checks
from governance.policy.engine import NOTHING_APPLIES, evaluate
from governance.policy.facts import ApprovalFact, EvalFact, EvalTarget, SystemFacts, WaiverFact
from governance.policy.loader import Environment, Policy, Requirement, build_policy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ENVS = ("production", "staging", "development")
REQ_IDS = [f"req-{n}" for n in range(12)]
KINDS = ["security", "legal", "privacy", "risk"]

moments = st.integers(min_value=-400, max_value=400).map(lambda days: NOW + timedelta(days=days))
maybe_moment = st.none() | moments
usernames = st.sampled_from(["ann", "bob", "cy"])

approvals = st.builds(
    ApprovalFact,
    kind=st.sampled_from(KINDS),
    status=st.sampled_from(["open", "approved", "rejected", "changes_requested", "weird"]),
    decided_at=maybe_moment,
    expires_at=maybe_moment,
    decided_by=usernames,
)
evals = st.builds(EvalFact, metric=st.sampled_from(["acc", "rouge_l"]),
                  value=st.floats(min_value=-1, max_value=2, allow_nan=False), observed_at=moments,
                  model_version=st.sampled_from(["", "v1"]), dataset=st.just("d"), source=st.just("s"),
                  source_run_id=st.just("r"))
targets = st.builds(EvalTarget, metric=st.sampled_from(["acc", "rouge_l"]),
                    threshold=st.floats(min_value=-1, max_value=2, allow_nan=False), higher_is_better=st.booleans())
waivers = st.builds(WaiverFact, requirement=st.sampled_from(REQ_IDS), expires_at=moments,
                    approved_by=usernames, justification=st.just("because"), id=st.integers(1, 99))

facts_strategy = st.builds(
    SystemFacts,
    slug=st.just("s"),
    risk_tier=st.sampled_from(list(RiskTier.values)),
    lifecycle_stage=st.sampled_from(["proposed", "in_development", "pilot", "production", "retired"]),
    data_categories=st.lists(st.sampled_from(["personal", "internal", "special_category"]), max_size=2).map(tuple),
    owners=st.fixed_dictionaries({r: st.none() | usernames for r in checks.OWNER_ROLES}),
    inactive_owners=st.lists(usernames, max_size=1).map(tuple),
    published_model_card=st.none() | st.integers(1, 5),
    model_card_published_at=maybe_moment,
    approvals=st.lists(approvals, max_size=4).map(tuple),
    accepted_decisions=st.integers(0, 3),
    eval_target=st.none() | targets,
    latest_eval=st.none() | evals,
    model_version=st.sampled_from(["", "v1"]),
    runbook_url=st.sampled_from(["", "https://r.example.com"]),
    waivers=st.lists(waivers, max_size=3).map(tuple),
)

PARAMS = {
    "owners_assigned": st.fixed_dictionaries({"roles": st.lists(st.sampled_from(checks.OWNER_ROLES), min_size=1,
                                                                  max_size=3, unique=True)}),
    "model_card_published": st.just({}),
    "approval": st.fixed_dictionaries({"kind": st.sampled_from(KINDS)}),
    "decision_record_accepted": st.fixed_dictionaries({"min": st.integers(1, 3)}),
    "eval_threshold": st.fixed_dictionaries({"max_age_days": st.integers(1, 60)}),
    "runbook_linked": st.just({}),
    "lifecycle_stage": st.fixed_dictionaries({"not_in": st.lists(st.sampled_from(["proposed", "pilot", "retired"]),
                                                                 min_size=1, max_size=2, unique=True)}),
}
conditions = st.none() | st.sampled_from([
    {"fact": "processes_personal_data", "equals": True},
    {"fact": "risk_tier", "in": ["high", "limited"]},
    {"not": {"fact": "lifecycle_stage", "equals": "proposed"}},
])


@st.composite
def requirement(draw: st.DrawFn, req_id: str) -> Requirement:
    check = draw(st.sampled_from(sorted(PARAMS)))
    return Requirement(
        id=req_id, title=req_id, check=check, params=draw(PARAMS[check]),
        environments=tuple(draw(st.lists(st.sampled_from(ENVS), min_size=1, max_size=3, unique=True))),
        tiers=tuple(draw(st.lists(st.sampled_from(list(RiskTier.values)), min_size=1, max_size=4, unique=True))),
        when=draw(conditions), severity=draw(st.sampled_from(["critical", "major", "minor"])), fix="fix it",
        waivable=draw(st.booleans()),
    )


ALWAYS = st.just(True)


@st.composite
def policies(draw: st.DrawFn, allow_empty: st.SearchStrategy[bool] = ALWAYS) -> Policy:
    """Random policies. By default every environment says ``allow_empty`` (a system nothing applies
    to passes), the engine's behaviour these properties were first written for; the properties of
    strict environments (the default in a policy file) are tested below with ``st.booleans()``."""
    ids = draw(st.lists(st.sampled_from(REQ_IDS), min_size=0, max_size=8, unique=True))
    staging_excludes = tuple(draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))) if ids else ()
    envs = {
        "production": Environment("production", None, (), draw(allow_empty)),
        "staging": Environment("staging", draw(st.sampled_from([None, "production"])), staging_excludes,
                               draw(allow_empty)),
        "development": Environment("development", None, (), draw(allow_empty)),
    }
    return Policy("p", "v" * 64, "mem", envs, tuple(draw(requirement(i)) for i in ids))


def independent_unmet(policy: Policy, environment: str, facts: SystemFacts) -> list[str]:
    """Recompute from first principles which applicable requirements are unmet and not waived (and,
    in an environment without allow_empty, that nothing applying at all is itself unmet)."""
    from clearance import conditions as cond

    unmet = []
    applied = 0
    for req in policy.requirements_for(environment):
        if facts.risk_tier not in req.tiers:
            continue
        if req.when is not None and not cond.evaluate(req.when, facts.condition_facts()):
            continue
        applied += 1
        status = checks.REGISTRY[req.check].fn(facts, req.params, NOW).status
        waived = req.waivable and any(w.requirement == req.id and w.expires_at > NOW for w in facts.waivers)
        if status != "met" and not waived:
            unmet.append(req.id)
    if not applied and not policy.environments[environment].allow_empty:
        unmet.append(NOTHING_APPLIES)
    return unmet


@settings(max_examples=300, deadline=None)
@given(policy=policies(allow_empty=st.booleans()), facts=facts_strategy, environment=st.sampled_from(ENVS))
def test_never_pass_when_an_applicable_requirement_is_unmet_and_unwaived(policy, facts, environment):
    result = evaluate(policy, environment, facts, NOW)
    unmet = independent_unmet(policy, environment, facts)
    assert (result.verdict == "pass") == (not unmet), (result.verdict, unmet)
    for r in result.requirements:
        if r.status == "waived":
            assert any(w.requirement == r.id and w.expires_at > NOW for w in facts.waivers)
            assert r.evidence["waiver"]["approved_by"] and r.valid_until is not None


@settings(max_examples=300, deadline=None)
@given(policy=policies(), facts=facts_strategy, environment=st.sampled_from(ENVS), data=st.data())
def test_adding_a_requirement_never_turns_block_into_pass(policy, facts, environment, data):
    free = [i for i in REQ_IDS if i not in {r.id for r in policy.requirements}]
    if not free:
        return
    extra = data.draw(requirement(data.draw(st.sampled_from(free))))
    bigger = dataclasses.replace(policy, requirements=(*policy.requirements, extra))
    before = evaluate(policy, environment, facts, NOW)
    after = evaluate(bigger, environment, facts, NOW)
    if before.verdict == "block":
        assert after.verdict == "block"
    assert {r.id for r in before.unmet} <= {r.id for r in after.unmet}


@settings(max_examples=100, deadline=None)
@given(policy=policies(), facts=facts_strategy, environment=st.sampled_from(ENVS),
       error=st.sampled_from([RuntimeError("x"), KeyError("k"), ZeroDivisionError(), AttributeError("a")]))
def test_a_check_that_raises_never_passes(policy, facts, environment, error):
    def boom(facts, params, now):
        raise error

    broken = {name: dataclasses.replace(ct, fn=boom) for name, ct in checks.REGISTRY.items()}
    saved = dict(checks.REGISTRY)
    checks.REGISTRY.update(broken)
    try:
        result = evaluate(policy, environment, facts, NOW)
    finally:
        checks.REGISTRY.update(saved)
    applicable = independent_applicable(policy, environment, facts)
    if applicable:
        assert result.verdict == "block"
        assert all(r.status == "failed" for r in result.requirements)


def independent_applicable(policy: Policy, environment: str, facts: SystemFacts) -> list[str]:
    from clearance import conditions as cond

    return [req.id for req in policy.requirements_for(environment) if facts.risk_tier in req.tiers
            and (req.when is None or cond.evaluate(req.when, facts.condition_facts()))]


@settings(max_examples=300, deadline=None)
@given(policy=policies(allow_empty=st.booleans()), facts=facts_strategy, environment=st.sampled_from(ENVS))
def test_removing_every_requirement_never_turns_block_into_pass(policy, facts, environment):
    before = evaluate(policy, environment, facts, NOW)
    emptied = evaluate(dataclasses.replace(policy, requirements=()), environment, facts, NOW)
    if not policy.environments[environment].allow_empty:
        # Only an environment that says allow_empty may pass with nothing checked.
        assert emptied.verdict == "block"
        assert [r.id for r in emptied.unmet] == [NOTHING_APPLIES]
        assert "Add a requirement" in emptied.unmet[0].fix
    if before.verdict == "block":
        assert emptied.verdict == "block" or policy.environments[environment].allow_empty


@settings(max_examples=300, deadline=None)
@given(policy=policies(allow_empty=st.just(False)), facts=facts_strategy, environment=st.sampled_from(ENVS))
def test_a_strict_environment_passes_only_on_a_requirement_met_or_waived(policy, facts, environment):
    result = evaluate(policy, environment, facts, NOW)
    if result.verdict == "pass":
        assert result.requirements and all(r.status in ("met", "waived") for r in result.requirements)


SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "readiness.yaml"


@settings(max_examples=300, deadline=None)
@given(facts=facts_strategy, environment=st.sampled_from(ENVS))
def test_the_shipped_policy_never_passes_a_retired_system(facts, environment):
    policy = build_policy(SHIPPED, SHIPPED.read_bytes())
    retired = dataclasses.replace(facts, lifecycle_stage="retired")
    result = evaluate(policy, environment, retired, NOW)
    assert result.verdict == "block"
    finding = next(r for r in result.requirements if r.id == "system-not-retired")
    assert finding.status == "failed" and finding.message == "system is retired"
    assert "remove this deploy" in finding.fix  # a waiver on it changes nothing: it is not waivable
