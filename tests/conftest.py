"""Shared fixtures: named personas, a system on the path to production, and PostgreSQL plumbing."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from catalog.services.cards import model_card_draft, model_card_publish
from catalog.services.evidence import eval_result_record
from catalog.services.systems import system_set_evaluation_target, system_update
from clearance.roles import Role

PASSWORD = "persona-pass-123"

# Browser tests drive Debian's Chromium (`apt-get install chromium`; .ci/run installs it) with Playwright.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is not installed here (apt-get install chromium; .ci/run does)"),
]

PERSONAS: dict[str, list[Role]] = {
    "requester": [Role.REQUESTER],
    "security": [Role.SECURITY_REVIEWER],
    "legal": [Role.LEGAL_REVIEWER],
    "privacy": [Role.PRIVACY_REVIEWER],
    "lead": [Role.GOVERNANCE_LEAD],
    "owner": [Role.SYSTEM_OWNER],
    "risk": [Role.SYSTEM_OWNER],
    "auditor": [Role.AUDITOR],
    "outsider": [],
}


@pytest.fixture(scope="session", autouse=True)
def _postgres_flush_bypasses_audit_guard() -> Iterator[None]:
    """Transactional tests end with a TRUNCATE of every table, which the audit table's trigger
    refuses by design. The flush runs with session_replication_role = replica (superuser only),
    under which PostgreSQL fires no ordinary trigger; the app itself never does this."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _sqlite_flush_lifts_document_guards() -> Iterator[None]:
    """SQLite flushes with DELETE, which the published-card and decided-record triggers refuse by
    design, and SQLite cannot switch triggers off: the flush drops them and puts them back."""
    from django.db.backends.sqlite3.base import DatabaseOperations

    from catalog import db_guards
    from governance.db_guards import GUARDS as DECISION_GUARDS

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        with self.connection.cursor() as cursor:
            for guards in (db_guards.GUARDS, DECISION_GUARDS):
                db_guards.run_on(cursor, "sqlite", guards, create=False)
        try:
            original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                for guards in (db_guards.GUARDS, DECISION_GUARDS):
                    db_guards.run_on(cursor, "sqlite", guards, create=True)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture
def personas(db: None) -> dict[str, Any]:
    User = get_user_model()
    users = {}
    for name, roles in PERSONAS.items():
        user = User.objects.create_user(username=name, password=PASSWORD, email=f"{name}@example.com",
                                        first_name=name.capitalize())
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        users[name] = user
    return users


def answers(**overrides: Any) -> dict[str, Any]:
    base = {
        "title": "Support ticket summaries",
        "problem": "Agents spend 6 minutes reading long ticket threads before replying.",
        "business_outcome": "Cut handling time from 14 to 10 minutes (baseline Q3).",
        "why_ai": "Threads are free text; rules cannot summarise them.",
        "alternatives_considered": ["rules", "no_ai"],
        "data_categories": ["personal"],
        "customer_facing": False,
        "human_in_the_loop": True,
        "interacts_with_people": False,
        "vendor_model": "Azure OpenAI gpt-4o",
    }
    base.update(overrides)
    return base


@pytest.fixture
def request_in_review(personas: dict[str, Any]) -> Any:
    """A submitted, triaged request with security, legal and privacy reviews open and a system."""
    from governance.services.reviews import reviews_open
    from intake import services

    lead = personas["lead"]
    req = services.request_create_draft(requester=personas["requester"], **answers())
    services.request_submit(actor=personas["requester"], request=req)
    services.request_start_triage(actor=lead, request=req)
    req.refresh_from_db()
    services.request_set_tier(actor=lead, request=req, tier=req.suggested_tier)
    services.request_assign_owners(actor=lead, request=req, business=personas["requester"],
                                   technical=personas["owner"], risk=personas["risk"])
    services.request_create_system(actor=lead, request=req, slug="support-copilot")
    reviews_open(actor=lead, request=req, kinds=["security", "legal", "privacy"])
    req.refresh_from_db()
    return req


def make_ready(system: Any, personas: dict[str, Any]) -> None:
    """Give a system every artifact the default policy asks of it in production."""
    from governance.models import Review
    from governance.services.reviews import review_decide

    owner = personas["owner"]
    card = model_card_draft(actor=owner, system=system, model_details="gpt-4o via Azure",
                                    intended_use="Summaries for agents", limitations="May omit details")
    model_card_publish(actor=owner, card=card)
    system_set_evaluation_target(actor=owner, system=system, metric="rouge_l", threshold=0.4)
    eval_result_record(system=system, metric="rouge_l", value=0.47, source="test", source_run_id="run-1",
                               observed_at=timezone.now() - timedelta(days=2))
    system_update(actor=owner, system=system, runbook_url="https://runbooks.example.com/support-copilot")
    for review in Review.objects.filter(request__system=system, status="open"):
        review_decide(actor=personas[review.kind], review=review, decision="approved", rationale="Checked.")


@pytest.fixture(autouse=True)
def _private_audit_checkpoints(settings: Any, tmp_path: Any) -> None:
    """Each test's audit checkpoints go to its own file, never to the var directory's (whose
    checkpoints describe the development database, not the test one)."""
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "audit-checkpoints.jsonl"


@pytest.fixture(autouse=True)
def _fresh_compliance_cache() -> None:
    """Each test starts with no cached control statuses: its rolled-back database reuses system ids
    (and facts versions) another test's entries were kept under."""
    from compliance import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _private_framework_imports(settings: Any, tmp_path: Any) -> None:
    """Frameworks a test imports go to its own directory; the development var/ one is never read."""
    settings.FRAMEWORK_IMPORT_DIR = tmp_path / "imported-frameworks"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 at production strength costs ~0.2 s a user; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_bad_tokens_counted_from_earlier_tests() -> None:
    # Invalid bearer tokens are counted per address in the shared throttle cache for a few minutes;
    # tests that send some must not push a later test from the same address over the limit.
    from clearance.tokens import BadTokenLimiter

    with contextlib.suppress(Exception):  # a test may have left the cache down; nothing to forget then
        BadTokenLimiter().forget("127.0.0.1")


@pytest.fixture
def browser(live_server: Any) -> Iterator[Any]:
    """Chromium launched for a closed network, against the live server."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes around it
    # are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--no-first-run", "--disable-quic"],
            )
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser: Any) -> Any:
    return browser.new_page()


@pytest.fixture
def local_evidence_hosts(settings: Any) -> None:
    """Sources in these tests read from servers on 127.0.0.1 (a real MLflow, a test HTTP server, the
    demo's MLflow URL), which Clearance refuses unless the administrator allows the host."""
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def _fresh_gate_token_cache() -> Iterator[None]:
    # The gate's per-process token cache must not carry a token (or its user's roles) across tests.
    from clearance.tokens import gate_token_cache

    gate_token_cache.clear()
    yield
    gate_token_cache.clear()
