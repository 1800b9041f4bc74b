"""The demo seed: every state is present, the gate verdicts tell the intended story, and it is idempotent."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.choices import LifecycleStage
from catalog.models import AISystem
from clearance.audit import verify_chain
from clearance.demo import DEMO_PASSWORD, DemoSeed, seed_demo
from clearance.models import AuditEvent, Notification, OutboxMessage
from clearance.roles import Role, has_role
from governance.choices import DecisionStatus, RequirementStatus, Verdict
from governance.models import DecisionRecord, ReadinessVerdict, Review
from governance.policy.engine import Evaluation, evaluate
from governance.policy.loader import load_readiness_policy
from governance.selectors.facts import collect_facts
from intake.choices import RequestStatus
from intake.models import UseCaseRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]

PASSING = ("support-copilot", "invoice-extractor")
# slug -> (the one requirement that blocks it, that requirement's status)
BLOCKED = {
    "cv-screening": ("decision-record-accepted", RequirementStatus.MISSING),
    "it-helpdesk-bot": ("model-card-published", RequirementStatus.MISSING),
    "marketing-images": ("evaluation-threshold", RequirementStatus.FAILED),
    "churn-predictor": ("evaluation-threshold", RequirementStatus.STALE),
    "contract-summariser": ("owners-assigned", RequirementStatus.MISSING),
    "sales-email-drafter": ("legal-approval", RequirementStatus.MISSING),
}


@pytest.fixture
def seed() -> DemoSeed:
    return seed_demo()


def production(slug: str) -> Evaluation:
    system = AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").get(slug=slug)
    return evaluate(load_readiness_policy(), "production", collect_facts(system), timezone.now())


def test_personas_can_log_in_with_their_roles(seed: DemoSeed) -> None:
    assert seed.created is True
    usernames = [login[0] for login in seed.logins]
    assert {
        "requester",
        "engineer",
        "lead",
        "security",
        "legal",
        "privacy",
        "owner",
        "risk",
        "auditor",
        "admin",
    } == set(usernames)
    assert all(password == DEMO_PASSWORD for _, password, _ in seed.logins)
    users = {u.username: u for u in get_user_model().objects.all()}
    for username in usernames:
        assert users[username].check_password(DEMO_PASSWORD)
        assert users[username].email == f"{username}@example.com"
    assert has_role(users["engineer"], Role.REQUESTER) and has_role(users["engineer"], Role.SYSTEM_OWNER)
    assert has_role(users["lead"], Role.GOVERNANCE_LEAD)
    assert has_role(users["risk"], Role.SYSTEM_OWNER)
    assert users["admin"].is_staff and users["admin"].is_superuser
    assert (users["requester"].first_name, users["requester"].last_name) == ("Priya", "Natarajan")


def test_every_request_state_and_lifecycle_stage_is_present(seed: DemoSeed) -> None:
    statuses = set(UseCaseRequest.objects.values_list("status", flat=True))
    assert set(RequestStatus.values) <= statuses, set(RequestStatus.values) - statuses
    stages = set(AISystem.objects.values_list("lifecycle_stage", flat=True))
    assert set(LifecycleStage.values) <= stages, set(LifecycleStage.values) - stages

    in_review = UseCaseRequest.objects.get(status=RequestStatus.IN_REVIEW, system__slug="order-status-chatbot")
    reviews = {r.kind: r for r in Review.objects.filter(request=in_review)}
    assert reviews["security"].status == "open" and reviews["security"].assignee.username == "security"
    assert reviews["legal"].status == "approved"

    rejected = UseCaseRequest.objects.get(status=RequestStatus.REJECTED)
    assert rejected.risk_tier == "prohibited" and rejected.system is None

    decisions = set(DecisionRecord.objects.values_list("status", flat=True))
    assert {DecisionStatus.PROPOSED, DecisionStatus.ACCEPTED, DecisionStatus.REJECTED} <= decisions


@pytest.mark.parametrize("slug", PASSING)
def test_passing_systems_pass_the_production_gate(seed: DemoSeed, slug: str) -> None:
    result = production(slug)
    assert result.verdict == Verdict.PASS, [(r.id, r.status, r.message) for r in result.unmet]


def test_blocked_systems_are_blocked_each_for_its_own_reason(seed: DemoSeed) -> None:
    for slug, (requirement, status) in BLOCKED.items():
        result = production(slug)
        unmet = {r.id: r.status for r in result.unmet}
        assert result.verdict == Verdict.BLOCK, slug
        # Exactly the one intended reason, so each system tells one story on the readiness page.
        assert unmet == {requirement: status}, (slug, unmet)


def test_stored_readiness_matches_a_fresh_evaluation(seed: DemoSeed) -> None:
    policy = load_readiness_policy()
    for system in AISystem.objects.all():
        stored = {v.environment: v.verdict for v in ReadinessVerdict.objects.filter(system=system)}
        assert set(stored) == set(policy.environments), system.slug
        assert stored["production"] == production(system.slug).verdict, system.slug


def test_the_audit_chain_holds(seed: DemoSeed) -> None:
    report = verify_chain()
    assert report.ok, report.problem
    assert report.checked > 100


def test_seeding_twice_changes_nothing(seed: DemoSeed) -> None:
    def counts() -> dict[str, int]:
        return {
            "users": get_user_model().objects.count(),
            "requests": UseCaseRequest.objects.count(),
            "systems": AISystem.objects.count(),
            "audit": AuditEvent.objects.count(),
            "outbox": OutboxMessage.objects.count(),
            "notifications": Notification.objects.count(),
        }

    before = counts()
    again = seed_demo()
    assert again.created is False
    assert again.logins == seed.logins
    assert counts() == before
