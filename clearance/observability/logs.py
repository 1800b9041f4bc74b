"""Log records as one JSON object per line (``LOG_FORMAT=json``) or readable text (the default).

Every record gets ``request_id`` (and ``task``/``task_id`` inside a Celery task) from the context
of the work that wrote it, so one search for an id finds the request and every task it caused.
The JSON is written by hand rather than by a library: it is a dozen lines with no option we need.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from clearance.observability import requestid

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is kept.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_OURS = frozenset({"request_id", "task", "task_id"})

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class ContextFilter(logging.Filter):
    """Stamps the current request id and task on the record (on the handler, so records of every
    logger, third-party ones too, get them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = requestid.current() or "-"
        task = requestid.current_task()
        if task is not None and not hasattr(record, "task"):
            record.task, record.task_id = task
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or requestid.current() or None,
        }
        if doc["request_id"] == "-":
            doc["request_id"] = None
        for key in ("task", "task_id"):
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _OURS and not key.startswith("_"):
                doc.setdefault(key, value)
        return json.dumps(doc, default=str, ensure_ascii=False)


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: one console handler (stderr, where containers' logs are collected)."""
    formatter: dict[str, Any] = (
        {"()": "clearance.observability.logs.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "clearance.observability.logs.ContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        # django-axes says every sign-in at INFO; its warnings (failures, lockouts) are what matter.
        "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
    }
