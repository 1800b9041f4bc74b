"""One active readiness policy version for every process: activated only after lint and policy tests,
recorded and audited, read from the database on each call, so a broken or different file on one
host changes nothing until a good version is activated."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clearance.models import AuditEvent, OutboxMessage
from clearance.policyfile import content_hash
from clearance.tokens import api_token_create
from governance.models import GateCheck, PolicyActivation, PolicyVersion
from governance.policy import loader as policy_loader
from governance.selectors import policy as active
from tests.conftest import make_ready
from tests.servers import Gunicorn
from tests.test_celery_worker import database_url

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies" / "readiness.yaml"
DEFAULT_TEXT = SHIPPED.read_text()
TESTS_TEXT = (ROOT / "policies" / "readiness.tests.yaml").read_text()
RENAMED = DEFAULT_TEXT.replace("name: default\n", "name: default-v2\n")
BODY = {"system": "support-copilot", "environment": "production"}


def policy_dir(root: Path, text: str, *, with_tests: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "readiness.yaml").write_text(text)
    if with_tests:
        (root / "readiness.tests.yaml").write_text(TESTS_TEXT)
    for name in ("tiering.yaml", "reviews.yaml"):
        (root / name).write_text((ROOT / "policies" / name).read_text())
    return root / "readiness.yaml"


@pytest.fixture(autouse=True)
def _fresh_caches():
    policy_loader._loader.clear()
    active.clear_cache()
    yield
    policy_loader._loader.clear()
    active.clear_cache()


def activate(path: Path, *extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("policy", "activate", str(path), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(path: Path) -> str:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="not activated; the active version is unchanged"):
        call_command("policy", "activate", str(path), stdout=out, stderr=err)
    return err.getvalue()


def post(client, token, body=BODY):
    response = client.post("/api/v1/gate/checks", data=json.dumps(body), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json()


@pytest.mark.django_db
def test_migrate_activated_the_shipped_policy():
    shipped = content_hash(SHIPPED.read_bytes())
    assert active.active_digest() == shipped
    version = PolicyVersion.objects.get(digest=shipped)
    assert version.content == DEFAULT_TEXT and version.name == "default"
    assert PolicyActivation.objects.first().via == "migrate"


@pytest.mark.django_db
def test_activate_records_the_exact_text_audits_and_recomputes(tmp_path, personas, request_in_review):
    before = active.active_digest()
    path = policy_dir(tmp_path / "p", RENAMED)
    out, _ = activate(path, "--by", "lead")
    digest = content_hash(RENAMED.encode())
    assert f"{digest[:12]} is now the active version" in out and "policy test cases passed" in out
    version = PolicyVersion.objects.get(digest=digest)
    assert version.content == RENAMED and version.source == str(path) and version.created_by == personas["lead"]
    activation = PolicyActivation.objects.first()
    assert (activation.digest, activation.via, activation.activated_by, activation.previous_digest) == (
        digest, "command", personas["lead"], before)
    event = AuditEvent.objects.filter(action="policy.activated").order_by("-seq").first()
    assert event.data["version"] == digest and event.data["previous"] == before and event.data["via"] == "command"
    assert event.data["test_cases"] >= 18 and event.actor_id == personas["lead"].pk
    assert OutboxMessage.objects.filter(task_name="governance.recompute_all_readiness").exists()
    assert policy_loader.load_readiness_policy().name == "default-v2"

    again, _ = activate(path)
    assert "already the active version" in again
    assert PolicyActivation.objects.filter(digest=digest).count() == 1


@pytest.mark.django_db
def test_activate_refuses_a_file_that_does_not_lint_or_fails_its_tests_and_changes_nothing(tmp_path):
    before, events = active.active_digest(), AuditEvent.objects.count()

    broken = policy_dir(tmp_path / "broken", DEFAULT_TEXT.replace("check: runbook_linked", "check: nope"))
    assert "unknown check type 'nope'" in refused(broken)

    empty = policy_dir(tmp_path / "empty", DEFAULT_TEXT[:DEFAULT_TEXT.index("requirements:")] + "requirements: []\n")
    assert "should be non-empty" in refused(empty)

    # Every production system would now need a cost budget: the shipped policy tests say otherwise.
    costly = policy_dir(tmp_path / "costly", DEFAULT_TEXT + (
        "\n  - id: cost-within-budget\n    title: Within budget\n    check: cost_within_budget\n"
        "    environments: [production]\n    fix: Set a budget.\n"))
    failed = refused(costly)
    assert "policy test failed" in failed and "cost-within-budget" in failed

    untested = policy_dir(tmp_path / "untested", RENAMED, with_tests=False)
    assert "no policy tests name this file" in refused(untested)

    assert active.active_digest() == before
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_the_gate_decides_with_the_active_version_not_the_file(client, settings, tmp_path, personas,
                                                               request_in_review):
    make_ready(request_in_review.system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    shipped = content_hash(SHIPPED.read_bytes())
    settings.POLICY_DIR = policy_dir(tmp_path / "host", RENAMED).parent

    status, answer = post(client, token)  # a valid but not activated file on this host: nothing changes
    assert status == 200 and answer["verdict"] == "pass"
    assert answer["policy"] == {"name": "default", "version": shipped} and answer["warnings"] == []

    out = StringIO()
    call_command("policy", "status", stdout=out)
    assert f"active: policy 'default' {shipped}" in out.getvalue() and "not active" in out.getvalue()

    activate(settings.POLICY_DIR / "readiness.yaml")
    status, answer = post(client, token)
    assert answer["policy"] == {"name": "default-v2", "version": content_hash(RENAMED.encode())}
    assert GateCheck.objects.order_by("-pk").first().policy_version == answer["policy"]["version"]


@pytest.mark.django_db
def test_a_recorded_version_that_cannot_be_used_blocks_with_the_reason(client, personas, request_in_review):
    make_ready(request_in_review.system, personas)
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    version = PolicyVersion.objects.get(digest=active.active_digest())
    # Someone edits the recorded text in the database behind the version's back.
    PolicyVersion.objects.filter(pk=version.pk).update(content=version.content.replace("max_age_days: 30",
                                                                                       "max_age_days: 3000"))
    status, answer = post(client, token)
    assert status == 200 and answer["verdict"] == "block" and answer["policy"]["version"] == ""
    assert answer["requirements"][0]["id"] == "policy-loaded"
    assert "does not match its SHA-256" in answer["requirements"][0]["message"]

    # A recorded version this code cannot build (a check type it no longer knows) blocks too.
    text = DEFAULT_TEXT.replace("check: runbook_linked", "check: retired_check")
    digest = content_hash(text.encode())
    stale = PolicyVersion.objects.create(digest=digest, name="old", content=text, created_at=version.created_at)
    PolicyActivation.objects.create(version=stale, digest=digest, activated_at=version.created_at, via="command")
    status, answer = post(client, token)
    assert answer["verdict"] == "block" and "does not load in this process" in answer["requirements"][0]["message"]
    assert "unknown check type 'retired_check'" in answer["requirements"][0]["message"]

    client.force_login(personas["owner"])
    page = client.get("/systems/support-copilot/").content.decode()
    assert "No readiness policy version can be used" in page and "every deployment gate blocks" in page


@pytest.mark.django_db
def test_the_active_version_costs_one_query_per_call(django_assert_num_queries):
    policy_loader.load_readiness_policy()
    with django_assert_num_queries(1):
        policy = policy_loader.load_readiness_policy()
    assert policy.version == active.active_digest()


@pytest.mark.django_db
def test_migrate_activates_a_new_valid_file_and_ignores_a_broken_one(settings, tmp_path):
    settings.POLICY_DIR = policy_dir(tmp_path / "deploy", RENAMED).parent
    out = StringIO()
    call_command("migrate", verbosity=1, stdout=out)
    assert "activated (22 policy test cases passed)" in out.getvalue()
    assert active.active_digest() == content_hash(RENAMED.encode())
    assert PolicyActivation.objects.first().via == "migrate"

    (settings.POLICY_DIR / "readiness.yaml").write_text("apiVersion: clearance/v1\nkind: ReadinessPolicy\n")
    out = StringIO()
    call_command("migrate", verbosity=1, stdout=out)
    assert "NOT activated (the active version is unchanged)" in out.getvalue()
    assert active.active_digest() == content_hash(RENAMED.encode())


@pytest.mark.django_db(transaction=True)
def test_every_server_answers_from_the_active_version_whatever_its_file(request_in_review, personas, tmp_path):
    """Three hosts behind one load balancer: one with the shipped file, one whose file broke, one
    with a newer file not yet activated (two workers). Every call answers the same version, and an
    activation switches them all on their next call, without a restart."""
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    shipped = content_hash(SHIPPED.read_bytes())
    dirs = {
        "shipped": policy_dir(tmp_path / "a", DEFAULT_TEXT).parent,
        "broken": policy_dir(tmp_path / "b", DEFAULT_TEXT.replace("check: runbook_linked", "check: nope")).parent,
        "newer": policy_dir(tmp_path / "c", RENAMED).parent,
    }
    servers = {}
    try:
        for name, folder in dirs.items():
            servers[name] = Gunicorn(database_url(), tmp_path / f"{name}.log", workers=2 if name == "newer" else 1,
                                     POLICY_DIR=str(folder))
        answers = [(name, *servers[name].post_gate(token, BODY)[:2]) for _ in range(4) for name in servers]
        assert {(status, body["verdict"], body["policy"]["version"]) for _, status, body in answers} == {
            (200, "block", shipped)}, answers
        broken = [body for name, _, body in answers if name == "broken"]
        assert all("does not load" in body["warnings"][0] and "changes nothing" in body["warnings"][0]
                   for body in broken)

        call_command("policy", "activate", str(dirs["newer"] / "readiness.yaml"), stdout=StringIO())
        renamed = content_hash(RENAMED.encode())
        after = {servers[name].post_gate(token, BODY)[1]["policy"]["version"] for _ in range(4) for name in servers}
        assert after == {renamed}
    finally:
        for server in servers.values():
            server.stop()
