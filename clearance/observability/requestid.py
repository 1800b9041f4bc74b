"""One id per unit of work, carried from the HTTP request into the tasks it causes.

A request takes the caller's ``X-Request-ID`` when it looks like an id (a proxy or a load balancer
may have set it, so one id spans the whole path), else a fresh one, and echoes it in the response.
Anything that publishes a Celery task while the id is set sends it along as a message header
(``celery_hooks``), and the worker sets it again while the task runs; the outbox stores the id with
the message, because it publishes later, from another process (``clearance/outbox.py``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# The Celery message header the id travels in.
TASK_HEADER = "clearance_request_id"
# Letters, digits and a few separators, at most 128: enough for a UUID, a W3C trace id or an ELB
# trace header, and nothing that could break a log line or a header (no spaces, quotes, newlines).
_SANE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}$")

_current: ContextVar[str | None] = ContextVar("clearance_request_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def sane(value: object) -> str | None:
    """The value when it may serve as a request id, else None."""
    if isinstance(value, str) and _SANE.match(value):
        return value
    return None


def current() -> str | None:
    return _current.get()


@contextmanager
def bound(request_id: str | None) -> Iterator[str]:
    """Run the block under ``request_id`` (a fresh one when it is missing or not sane)."""
    value = sane(request_id) or new_id()
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """First in the chain, so every log line of the request, the probes' included, carries the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with bound(request.headers.get(HEADER)) as request_id:
            request.request_id = request_id  # type: ignore[attr-defined]
            response = self.get_response(request)
            response[HEADER] = request_id
            return response


# The Celery task being run by this thread, for the log lines it writes: (name, id).
_task: ContextVar[tuple[str, str] | None] = ContextVar("clearance_task", default=None)


def current_task() -> tuple[str, str] | None:
    return _task.get()


@contextmanager
def in_task(*, name: str, task_id: str, request_id: str | None) -> Iterator[str]:
    """Run a task's body under the id of the work that enqueued it (a fresh one for work nobody
    asked for through a request, e.g. a beat schedule)."""
    token = _task.set((name, task_id))
    try:
        with bound(request_id) as value:
            yield value
    finally:
        _task.reset(token)
