"""Prometheus metrics, with the Prometheus project's own client (``prometheus_client``).

We use the official client directly rather than django-prometheus: we need a handful of series of
our own (gate verdicts, Celery task outcomes, scrape-time gauges read from the database) and
exact control over label values, and django-prometheus would add dozens of series per view, model
and database wrapper that nobody here asked for, while its multi-process story is the same client's.

Label values are bounded: ``view`` is a URL pattern's name (a fixed set; unmatched paths are
``<unmatched>``), ``system`` is a catalog system's slug (counted only once the gate has found the
system, so a caller cannot invent series by asking for unknown slugs), ``environment`` one of the
policy's environments, ``task`` a registered Celery task name. The gate's latency histogram carries
no system label: buckets times systems would be the one unbounded product.

Several processes (gunicorn workers, prefork Celery children) each count their own share. With
``PROMETHEUS_MULTIPROC_DIR`` set *before the process starts*, the client keeps every process's values
in memory-mapped files in that directory and a scrape adds them up (``MultiProcessCollector``); the
directory is emptied when the server or worker starts (``gunicorn_config``, ``celery_hooks``) and
must belong to one process group (one gunicorn, or one Celery worker), never shared by both.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

# No "_created" series: one timestamp per label set doubles the exposition and nothing here reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Server time of a page or an API call: sub-millisecond probes up to pages that time out.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_LATENCY = Histogram(
    "clearance_http_request_duration_seconds", "Server time of an HTTP request, by URL pattern name and method.",
    ["view", "method"], buckets=_LATENCY_BUCKETS,
)
HTTP_RESPONSES = Counter(
    "clearance_http_responses_total", "HTTP responses by URL pattern name, method and status class (2xx..5xx).",
    ["view", "method", "status"],
)
GATE_VERDICTS = Counter(
    "clearance_gate_verdicts_total", "Gate answers with a verdict, by system slug, environment and verdict.",
    ["system", "environment", "verdict"],
)
GATE_LATENCY = Histogram(
    "clearance_gate_duration_seconds",
    "Server time of a gate call (POST /api/v1/gate/checks), by result: pass, block, refused (4xx), "
    "unavailable (5xx).",
    ["result"], buckets=_LATENCY_BUCKETS,
)
CELERY_TASKS = Counter(
    "clearance_celery_tasks_total",
    "Celery task runs by task name and outcome: succeeded, failed, retried, rejected, revoked.",
    ["task", "outcome"],
)
CELERY_TASK_DURATION = Histogram(
    "clearance_celery_task_duration_seconds", "Run time of a Celery task, by task name.", ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0),
)

UNMATCHED = "<unmatched>"


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_gate(*, seconds: float, status: int, verdict: str | None, system: str | None, environment: str) -> None:
    """Called by the gate view for every POST: its latency, and the verdict when there is one."""
    if verdict is not None and system is not None:
        GATE_VERDICTS.labels(system=system, environment=environment, verdict=verdict).inc()
        result = verdict
    else:
        result = "unavailable" if status >= 500 else "refused"
    GATE_LATENCY.labels(result=result).observe(seconds)


class MetricsMiddleware:
    """Outermost after the request id: times the whole stack, labelled by the URL pattern's name."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or UNMATCHED) if match is not None else getattr(request, "ops_view", UNMATCHED)
        method = request.method if request.method in _METHODS else "other"
        HTTP_LATENCY.labels(view=view, method=method).observe(elapsed)
        HTTP_RESPONSES.labels(view=view, method=method, status=status_class(response.status_code)).inc()
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class DatabaseGauges(Collector):
    """Gauges computed from the database at scrape time, so every web process reports the same truth
    and nothing has to be kept in step: the outbox backlog and the age of its oldest open message,
    reviews past their due date, and evidence sync runs by status. A few aggregate queries on indexed
    columns, whatever the size of the portfolio."""

    def collect(self) -> Iterable[Metric]:
        from django.db.models import Count, Min

        from catalog.choices import SyncStatus
        from catalog.models import SyncRun
        from clearance.models import OutboxMessage
        from governance.choices import ReviewStatus
        from governance.models import Review

        now = timezone.now()
        backlog = OutboxMessage.objects.filter(completed_at=None).aggregate(n=Count("pk"), oldest=Min("created_at"))
        yield GaugeMetricFamily("clearance_outbox_open_messages",
                                "Outbox messages whose work has not completed yet.", value=backlog["n"])
        oldest = backlog["oldest"]
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("clearance_outbox_oldest_open_age_seconds",
                                "Age of the oldest outbox message whose work has not completed (0: none).",
                                value=max(age, 0.0))
        overdue = GaugeMetricFamily("clearance_reviews_overdue", "Open reviews past their due date, by kind.",
                                    labels=["kind"])
        for row in (Review.objects.filter(status=ReviewStatus.OPEN, due_at__lt=now).values("kind")
                    .annotate(n=Count("pk")).order_by("kind")):
            overdue.add_metric([row["kind"]], row["n"])
        yield overdue
        runs = GaugeMetricFamily("clearance_evidence_sync_runs",
                                 "Evidence sync runs recorded, by status (queued, running, succeeded, failed).",
                                 labels=["status"])
        counts = {row["status"]: row["n"] for row in SyncRun.objects.values("status").annotate(n=Count("pk"))
                  .order_by("status")}
        for status in SyncStatus.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(*, database: bool) -> bytes:
    """The text exposition of this process (or, in multi-process mode, of every process sharing the
    directory), plus the database gauges when asked."""
    parts: list[bytes] = []
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        parts.append(generate_latest(registry))
    else:
        parts.append(generate_latest(REGISTRY))
    if database:
        db_registry = CollectorRegistry()
        db_registry.register(DatabaseGauges())
        parts.append(generate_latest(db_registry))
    return b"".join(parts)


# --- who may scrape ---------------------------------------------------------------------------------


def scrape_refusal(*, authorization: str, address: str | None) -> tuple[int, str] | None:
    """None when the scrape may proceed, else (status, reason). With METRICS_TOKEN set the caller
    must send it as a Bearer token; with METRICS_ALLOWED_NETWORKS set its address must be inside one
    of them; with both, both. With neither, metrics are open only under DEBUG: a production install
    that configured nothing answers 404, as if there were nothing there."""
    token: str = settings.METRICS_TOKEN
    networks = settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return None if settings.DEBUG else (404, "not found")
    if token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return 401, "a valid bearer token is needed (METRICS_TOKEN)"
    if networks:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return 403, "your address is not allowed (METRICS_ALLOWED_NETWORKS)"
        if not any(ip in network for network in networks):
            return 403, "your address is not allowed (METRICS_ALLOWED_NETWORKS)"
    return None


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text exposition, for a scraper with the token or from an allowed
    network (see ``scrape_refusal``)."""
    from clearance.signin import client_address

    if request.method not in ("GET", "HEAD"):
        return HttpResponse("only GET\n", status=405, content_type="text/plain", headers={"Allow": "GET, HEAD"})
    refusal = scrape_refusal(authorization=request.headers.get("Authorization", ""), address=client_address(request))
    if refusal is not None:
        status, reason = refusal
        response = HttpResponse(f"{reason}\n", status=status, content_type="text/plain; charset=utf-8")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(database=True), content_type=CONTENT_TYPE_LATEST)


