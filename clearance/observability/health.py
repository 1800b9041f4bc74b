"""Probes for load balancers and orchestrators: ``/healthz`` (the process answers) and ``/readyz``
(it can do its work: database, broker and cache reachable, an active readiness policy loaded).

Both are answered by ``OperationsMiddleware`` before host validation, the HTTPS redirect, sessions
and CSRF: a kubelet or a load balancer addresses a pod by its IP over plain HTTP, and a probe must
neither need a login nor write a session. ``/readyz`` answers 503 when a check fails, with a JSON
body naming each check, whether it passed, how long it took and, when it failed, why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

CHECKS = ("database", "broker", "cache", "policy")


def _database() -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # A broken connection must not be reused by the next request of this process.
        connection.close()
        raise


def _broker() -> None:
    from clearance.celery import app

    timeout = settings.READYZ_TIMEOUT_SECONDS
    with app.connection_for_write() as conn:
        # One attempt, no retry loop: a probe that waits out Celery's reconnection policy would be
        # killed by the prober first. (kombu's stubs say int; the timeout is any number of seconds.)
        cast(Any, conn).ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0,
                                          timeout=timeout)
        if conn.transport.driver_type == "redis":
            # Connecting may be lazy; a PING proves the server answers.
            cast(Any, conn.default_channel).client.ping()


def _cache() -> None:
    from django.core.cache import caches

    cache = caches["throttle"]
    # Redis backends swallow nothing: a dead server raises here. The file backend raises on a
    # directory it cannot write.
    cache.set("readyz:probe", "1", 30)
    if cache.get("readyz:probe") != "1":
        raise RuntimeError("the value just written could not be read back")


def _policy() -> None:
    from governance.selectors.policy import active_policy

    active_policy()  # raises PolicyUnavailable with the reason every gate would give


_RUNNERS: dict[str, Callable[[], None]] = {"database": _database, "broker": _broker, "cache": _cache,
                                          "policy": _policy}


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    first = str(message).strip().splitlines()[0] if str(message).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first[:200]}"


def run_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    ready = True
    soft = set(settings.READYZ_SOFT_CHECKS)
    for name in CHECKS:
        started = time.perf_counter()
        try:
            _RUNNERS[name]()
        except Exception as exc:
            result: dict[str, Any] = {"ok": False, "error": _reason(exc)}
            if name in soft:
                result["counted"] = False
            else:
                ready = False
        else:
            result = {"ok": True}
        result["ms"] = round((time.perf_counter() - started) * 1000, 2)
        results[name] = result
    return ready, results


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and answering. Touches nothing else, so a database outage never makes an
    orchestrator restart healthy web processes."""
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request: HttpRequest) -> HttpResponse:
    ready, checks = run_checks()
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return _no_store(JsonResponse(body, status=200 if ready else 503))


class OperationsMiddleware:
    """Answers /healthz, /readyz and /metrics before the rest of the stack (see the module's doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from clearance.observability.metrics import metrics_view

        self.get_response = get_response
        self.routes: dict[str, tuple[str, Callable[[HttpRequest], HttpResponse]]] = {
            "/healthz": ("healthz", healthz), "/readyz": ("readyz", readyz), "/metrics": ("metrics", metrics_view),
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        route = self.routes.get(request.path_info.rstrip("/") or "/")
        if route is None:
            return self.get_response(request)
        name, view = route
        request.ops_view = name  # type: ignore[attr-defined]  # the metrics middleware's label
        if name != "metrics" and request.method not in ("GET", "HEAD"):
            return HttpResponse("only GET\n", status=405, content_type="text/plain", headers={"Allow": "GET, HEAD"})
        return view(request)
