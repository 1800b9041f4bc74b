"""Outages answer the contract: with the throttle cache (a private redis-server) killed or hung the
gate keeps answering; a database that is down or past the gate's statement timeout answers 503 JSON
with Retry-After (never a 500 or an HTML page); clearance-check retries 503 and exits 2 when its
retries run out, and never 0 unless the server said pass."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, connection

from clearance import tokens
from clearance.tokens import THROTTLE_DEGRADED_WARNING, api_token_create
from governance.models import GateCheck
from tests.servers import Gunicorn, PrivateRedis, free_port
from tests.test_celery_worker import database_url

CLIENT = Path(__file__).resolve().parents[2] / "clearance" / "gate_client.py"
BODY = {"system": "support-copilot", "environment": "production"}


@pytest.fixture(autouse=True)
def _healthy_throttle_cache():
    tokens.throttle_cache_health.reset()
    yield
    tokens.throttle_cache_health.reset()


def run_cli(url: str, token: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    # -S -I: the client needs nothing but the standard library.
    result = subprocess.run(
        [sys.executable, "-S", "-I", str(CLIENT), "--url", url, "--token", token, "--system", "support-copilot",
         "--environment", "production", "--timeout", "10", *extra],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )
    return result, time.monotonic() - started


def post(client, token):
    return client.post("/api/v1/gate/checks", data=json.dumps(BODY), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}")


# --- the throttle cache -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_gate_keeps_answering_when_its_throttle_cache_is_killed_or_hangs(request_in_review, personas, tmp_path):
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    redis = PrivateRedis(tmp_path)
    server = None
    try:
        server = Gunicorn(database_url(), tmp_path / "gunicorn.log", THROTTLE_CACHE_URL=redis.url,
                          THROTTLE_CACHE_RETRY_SECONDS="1", THROTTLE_CACHE_TIMEOUT_MS="300")
        status, body, _ = server.post_gate(token, BODY)
        assert (status, body["verdict"], body["warnings"]) == (200, "block", [])
        assert any(":throttle:gate:token:" in key for key in redis.keys()), "counted in the shared cache"

        redis.kill()
        for _ in range(3):
            status, body, _ = server.post_gate(token, BODY)
            assert (status, body["verdict"]) == (200, "block")
            assert THROTTLE_DEGRADED_WARNING in body["warnings"]

        redis.start()  # same port, empty, as after a failover
        time.sleep(1.2)  # the retry window
        status, body, _ = server.post_gate(token, BODY)
        assert (status, body["warnings"]) == (200, [])
        assert any(":throttle:gate:token:" in key for key in redis.keys())

        redis.pause()  # hangs: accepts connections, answers nothing
        time.sleep(1.2)
        started = time.monotonic()
        status, body, _ = server.post_gate(token, BODY)
        hung_for = time.monotonic() - started
        assert (status, body["verdict"]) == (200, "block") and THROTTLE_DEGRADED_WARNING in body["warnings"]
        assert hung_for < 2.0, f"a hung cache must cost at most its socket timeout, took {hung_for:.2f}s"
        redis.resume()
    finally:
        if server is not None:
            server.stop()
        redis.stop()
    log = server.output()
    assert "throttle cache unavailable" in log and "failure 2 in this process" in log, log[-3000:]
    assert GateCheck.objects.filter(verdict="pass").count() == 0
    assert GateCheck.objects.count() == 6


@pytest.mark.django_db
def test_throttle_cache_errors_are_counted_and_the_limit_still_holds_per_process(
        client, request_in_review, personas, settings, monkeypatch, caplog):
    settings.GATE_RATE_LIMIT = "2/min"
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def refused(*args, **kwargs):
        raise ConnectionRefusedError("cache down")

    monkeypatch.setattr(type(tokens.caches["throttle"]), "add", refused)
    answers = [post(client, token) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert THROTTLE_DEGRADED_WARNING in answers[0].json()["warnings"]
    assert tokens.throttle_cache_health.degraded == 3 and tokens.throttle_cache_health.failures == 1
    assert "throttle cache unavailable (ConnectionRefusedError: cache down)" in caplog.text


# --- the database ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OperationalError("server closed the connection unexpectedly"),
                                   InterfaceError("connection already closed")])
def test_a_database_error_during_the_gate_answers_503_json_with_retry_after(client, request_in_review, personas,
                                                                            monkeypatch, error):
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def down(system):
        raise error

    # No current stored verdict: the gate recomputes (readiness) and, failing that, evaluates live (gate).
    monkeypatch.setattr("governance.services.readiness.collect_facts", down)
    monkeypatch.setattr("governance.services.gate.collect_facts", down)
    response = post(client, token)
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": {"code": "unavailable",
                                         "message": "the database is unavailable; nothing was decided, retry shortly"}}
    assert not GateCheck.objects.exists()


@pytest.mark.django_db
def test_a_policy_version_that_cannot_be_read_answers_503_never_a_verdict(client, request_in_review, personas,
                                                                          monkeypatch):
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext

    def down():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("governance.selectors.policy.active_digest", down)
    response = post(client, token)
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
    assert not GateCheck.objects.exists()


def test_a_database_that_is_down_answers_503_and_the_client_exits_2_after_its_retries(tmp_path):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/clearance"  # nothing listens there
    server = Gunicorn(nowhere, tmp_path / "gunicorn.log", OUTAGE_RETRY_AFTER_SECONDS="1", DB_CONNECT_TIMEOUT="2")
    try:
        status, body, headers = server.post_gate("clr_0123456789ab_whatever", BODY)
        assert status == 503 and headers["Retry-After"] == "1"
        assert headers["Content-Type"] == "application/json"
        assert body["error"]["code"] == "unavailable" and "database is unavailable" in body["error"]["message"]

        result, took = run_cli(server.url, "clr_0123456789ab_whatever", "--retries", "2", "--backoff", "0.05")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "HTTP 503" in result.stderr and "gave up after 3 attempts" in result.stderr
        assert result.stderr.count("retrying in") == 2
        assert took >= 2.0, "the client honours Retry-After between attempts"
    finally:
        server.stop()
    assert "Traceback" not in server.output()


def lock_table(table: str, release: threading.Event, locked: threading.Event) -> None:
    """Hold ACCESS EXCLUSIVE on a table from another connection until told to let go."""
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=False) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        locked.set()
        release.wait(60)
        conn.rollback()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["catalog_aisystem", "governance_gatecheck"])
def test_a_held_table_lock_answers_503_within_the_statement_timeout(request_in_review, personas, tmp_path, table):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has neither table locks nor a statement timeout (its busy "
                    "timeout bounds waits instead)")
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    server = Gunicorn(database_url(), tmp_path / "gunicorn.log", OUTAGE_RETRY_AFTER_SECONDS="1")
    release, locked = threading.Event(), threading.Event()
    holder = threading.Thread(target=lock_table, args=(table, release, locked), daemon=True)
    try:
        assert server.post_gate(token, BODY)[0] == 200  # a warm server: the first call imports the views
        holder.start()
        assert locked.wait(10)
        started = time.monotonic()
        status, body, headers = server.post_gate(token, BODY)
        took = time.monotonic() - started
        assert status == 503, body
        assert body["error"]["code"] == "unavailable" and "did not answer within 2000 ms" in body["error"]["message"]
        assert headers["Retry-After"] == "1"
        assert 1.9 <= took < 5, f"answered after {took:.2f}s; the statement timeout is 2 s"

        result, _ = run_cli(server.url, token, "--retries", "1", "--backoff", "0.05")
        assert result.returncode == 2 and "HTTP 503" in result.stderr and "gave up after 2 attempts" in result.stderr

        # The lock goes while the client is retrying: it gets the real verdict (block), never a pass.
        threading.Timer(3.0, release.set).start()
        result, _ = run_cli(server.url, token, "--retries", "5", "--backoff", "0.5")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "HTTP 503" in result.stderr and "BLOCK" in result.stdout
    finally:
        release.set()
        holder.join(10)
        server.stop()
    assert GateCheck.objects.filter(verdict="pass").count() == 0
    assert GateCheck.objects.count() == 2, "the warm-up and the call after the lock went; no 503 was recorded"


@pytest.mark.django_db
def test_openapi_documents_the_503(client, personas):
    client.force_login(personas["owner"])
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    content = schema["paths"]["/api/v1/gate/checks"]["post"]["responses"]["503"]["content"]["application/json"]
    assert content["schema"]["$ref"].endswith("/Error")
    assert {ex["value"]["error"]["code"] for ex in content["examples"].values()} == {"unavailable"}
