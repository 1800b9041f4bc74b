"""gunicorn settings for the container: ``gunicorn -c python:clearance.observability.gunicorn_config``.

Beyond the bind address and worker count (from the environment), it keeps Prometheus's
multi-process mode right: the metrics directory is emptied when the master starts, and a worker
that exits has its files marked dead so its live values stop counting.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # noqa: S104 - a container listens on its pod address
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Access lines come from the app's own logs (with the request id); gunicorn's own errors to stderr.
accesslog = None
errorlog = "-"
# gunicorn's own lines (start, worker boots and timeouts) in the app's JSON shape when LOG_FORMAT=json.
if os.environ.get("LOG_FORMAT", "text").strip().lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "clearance.observability.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from clearance.observability.multiproc import empty_directory

        empty_directory(directory)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
