"""Probes, metrics and request ids in the web process: /healthz and /readyz for load balancers,
/metrics for Prometheus (closed unless configured), and the X-Request-ID that every answer carries
and every log line and outbox message keeps."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from clearance.models import OutboxMessage
from clearance.observability import requestid
from clearance.observability.logs import ContextFilter, JsonFormatter
from clearance.outbox import outbox_enqueue
from clearance.tokens import api_token_create
from governance.models import PolicyActivation, Review

METRICS_TOKEN = "scrape-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels; parsing fails on a bad line."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


@pytest.fixture
def metrics_open(settings: Any) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN


# --- /healthz and /readyz -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_without_the_database_a_session_or_a_known_host(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # HTTPS=true: a kubelet probes over plain HTTP all the same
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")  # a pod's address, not in ALLOWED_HOSTS
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert response["Cache-Control"] == "no-store"
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_names_each_check_and_passes_with_every_service_up(client):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3:8000")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "cache", "policy"}
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)
        assert isinstance(check["ms"], float | int)
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
def test_readyz_answers_503_when_no_policy_version_is_active(client):
    PolicyActivation.objects.all().delete()
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["policy"]["ok"] is False
    assert "no readiness policy version has been activated" in body["checks"]["policy"]["error"]
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_readyz_answers_503_when_the_cache_is_down_unless_the_check_is_soft(client, settings):
    from tests.servers import free_port

    # Nothing listens on that port: the throttle cache is down.
    settings.CACHES = {**settings.CACHES, "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3}}}
    response = client.get("/readyz")
    assert response.status_code == 503
    cache = response.json()["checks"]["cache"]
    assert cache["ok"] is False and "ConnectionError" in cache["error"]

    settings.READYZ_SOFT_CHECKS = ["cache"]
    response = client.get("/readyz")
    assert response.status_code == 200
    cache = response.json()["checks"]["cache"]
    assert (cache["ok"], cache["counted"]) == (False, False)


# --- /metrics -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_closed_by_default_in_production(client, settings, personas):
    settings.DEBUG, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = False, "", []
    assert client.get("/metrics").status_code == 404
    client.force_login(personas["lead"])  # a session is no way in either
    assert client.get("/metrics").status_code == 404
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_need_the_token_or_an_allowed_network(client, settings):
    import ipaddress

    settings.METRICS_TOKEN = METRICS_TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics").status_code == 403  # the test client comes from 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.4.5.6").status_code == 200

    # Both set: both are needed.
    settings.METRICS_TOKEN = METRICS_TOKEN
    assert client.get("/metrics", REMOTE_ADDR="10.4.5.6").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1",
                      HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.4.5.6",
                      HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200


@pytest.mark.django_db
def test_a_gate_call_moves_the_verdict_counter_the_gate_histogram_and_the_view_latency(
        client, request_in_review, personas, metrics_open):
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    verdict_key = ("clearance_gate_verdicts_total",
                   (("environment", "production"), ("system", "support-copilot"), ("verdict", "block")))
    gate_key = ("clearance_gate_duration_seconds_count", (("result", "block"),))
    refused_key = ("clearance_gate_duration_seconds_count", (("result", "refused"),))
    view_key = ("clearance_http_request_duration_seconds_count", (("method", "POST"), ("view", "api-gate-checks")))
    before = scrape(client)

    response = client.post("/api/v1/gate/checks", data={"system": "support-copilot", "environment": "production"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and response.json()["verdict"] == "block"
    unknown = client.post("/api/v1/gate/checks", data={"system": "no-such-system", "environment": "production"},
                          content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert unknown.status_code == 404

    after = scrape(client)
    assert after[verdict_key] == before.get(verdict_key, 0) + 1
    assert after[gate_key] == before.get(gate_key, 0) + 1
    assert after[refused_key] == before.get(refused_key, 0) + 1
    assert after[view_key] == before.get(view_key, 0) + 2
    # An unknown slug never becomes a label value: the caller cannot grow the series.
    assert not any(dict(labels).get("system") == "no-such-system" for _, labels in after)


@pytest.mark.django_db
def test_scrape_time_gauges_read_the_outbox_and_the_overdue_reviews(client, request_in_review, metrics_open):
    # Open messages left by the fixture's services, plus one written an hour ago that nobody completed.
    OutboxMessage.objects.update(completed_at=timezone.now())
    stuck = OutboxMessage.objects.create(task_name="clearance.deliver_notification", kwargs={"notification_id": 0})
    OutboxMessage.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=1))
    Review.objects.filter(request=request_in_review, kind="legal").update(due_at=timezone.now() - timedelta(days=2))

    found = scrape(client)
    assert found[("clearance_outbox_open_messages", ())] == 1
    assert 3600 <= found[("clearance_outbox_oldest_open_age_seconds", ())] < 3700
    assert found[("clearance_reviews_overdue", (("kind", "legal"),))] == 1
    assert ("clearance_reviews_overdue", (("kind", "security"),)) not in found
    assert found[("clearance_evidence_sync_runs", (("status", "failed"),))] == 0

    OutboxMessage.objects.filter(pk=stuck.pk).update(completed_at=timezone.now())
    found = scrape(client)
    assert found[("clearance_outbox_open_messages", ())] == 0
    assert found[("clearance_outbox_oldest_open_age_seconds", ())] == 0


# --- request ids and logs -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sane_incoming_request_id_is_kept_and_anything_else_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a:01").headers["X-Request-ID"] == "lb-7f3a:01"
    for bad in ("two words", "x" * 129, "line\nbreak", '"quoted"', ""):
        given = client.get("/healthz", HTTP_X_REQUEST_ID=bad).headers["X-Request-ID"]
        assert given != bad and len(given) == 32 and int(given, 16) >= 0
    first = client.get("/login/").headers["X-Request-ID"]
    assert first != client.get("/login/").headers["X-Request-ID"], "a fresh id per request"


@pytest.mark.django_db
def test_an_outbox_message_keeps_the_id_of_the_request_that_wrote_it(client, personas):
    from intake import services as intake
    from tests.conftest import answers

    draft = intake.request_create_draft(requester=personas["requester"], **answers())
    client.force_login(personas["requester"])
    response = client.post(f"/requests/{draft.pk}/submit/", HTTP_X_REQUEST_ID="submit-req-42")
    assert response.status_code == 302
    messages = OutboxMessage.objects.filter(task_name="clearance.deliver_notification")
    assert messages.exists()
    assert set(messages.values_list("origin_request_id", flat=True)) == {"submit-req-42"}
    # Written outside any request or task: no id to keep.
    assert outbox_enqueue(task_name="clearance.relay_outbox").origin_request_id == ""


def test_json_log_lines_carry_the_request_id_and_the_task():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.ops.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with requestid.bound("req-abc"):
            logger.warning("gate %s", "slow", extra={"system": "support-copilot"})
        with requestid.in_task(name="clearance.relay_outbox", task_id="t-1", request_id="req-xyz"):
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "gate slow" and first["request_id"] == "req-abc" and first["level"] == "WARNING"
    assert first["system"] == "support-copilot" and first["logger"] == "tests.ops.json"
    assert second["request_id"] == "req-xyz" and second["task"] == "clearance.relay_outbox"
    assert second["task_id"] == "t-1" and "ValueError: boom" in second["exception"]
    assert third["request_id"] is None and "task" not in third
