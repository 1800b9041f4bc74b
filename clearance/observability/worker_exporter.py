"""A Celery worker's metrics, served over HTTP by the worker's main process.

Web and worker run apart (in Kubernetes, in different pods), so the web's ``/metrics`` cannot see
what a worker counted. Each worker host therefore answers its own scrape on ``CELERY_METRICS_PORT``
(off by default): ``/metrics`` with the same token and network rules as the web's, and ``/healthz``.
With the prefork pool the children count into ``PROMETHEUS_MULTIPROC_DIR`` and this server adds
them up; with the solo or threads pool (one process) the directory is optional.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from clearance.observability import metrics

log = logging.getLogger("clearance.metrics")

_server: WSGIServer | None = None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "ok"}']
    if path != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    refusal = metrics.scrape_refusal(authorization=environ.get("HTTP_AUTHORIZATION", ""),
                                     address=environ.get("REMOTE_ADDR"))
    if refusal is not None:
        status, reason = refusal
        phrase = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}[status]
        start_response(f"{status} {phrase}", [("Content-Type", "text/plain; charset=utf-8")])
        return [reason.encode() + b"\n"]
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [metrics.exposition(database=False)]


def start(host: str, port: int) -> WSGIServer:
    global _server
    if _server is not None:
        return _server
    _server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=_server.serve_forever, name="metrics-exporter", daemon=True).start()
    log.info("worker metrics on http://%s:%s/metrics (pid %s)", host, _server.server_port, os.getpid())
    return _server


def start_from_settings() -> WSGIServer | None:
    port = settings.CELERY_METRICS_PORT
    if not port:
        return None
    return start(settings.CELERY_METRICS_ADDRESS, port)
