"""Answering while the database is down or too slow.

A database that refuses connections, drops them, or does not answer within the statement timeout
is an outage, not a bug: the API answers ``503 {"error": {...}}`` with ``Retry-After``, which
``clearance-check`` retries, instead of a 500 (or, past the web server's own timeout, its HTML error
page); the pages answer a plain 503 page that says so, with the same ``Retry-After``. Nothing is
decided from a database that did not answer, so an outage never becomes a pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger("clearance.outages")

OUTAGE_ERRORS = (OperationalError, InterfaceError)


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def _timed_out(exc: BaseException) -> bool:
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ in ("QueryCanceled", "LockNotAvailable")


def outage_body(exc: BaseException) -> dict[str, Any]:
    if _timed_out(exc):
        message = (f"the database did not answer within {settings.GATE_STATEMENT_TIMEOUT_MS} ms (a lock or an "
                   f"overload); nothing was decided, retry shortly")
    else:
        message = "the database is unavailable; nothing was decided, retry shortly"
    return {"error": {"code": "unavailable", "message": message}}


def retry_after() -> str:
    return str(settings.OUTAGE_RETRY_AFTER_SECONDS)


def note_outage(exc: BaseException) -> None:
    log.warning("answering 503, database outage: %s: %s", type(exc).__name__, str(exc).strip()[:300])


def outage_response(exc: BaseException) -> JsonResponse:
    note_outage(exc)
    response = JsonResponse(outage_body(exc), status=503)
    response["Retry-After"] = retry_after()
    return response


def outage_page(exc: BaseException) -> HttpResponse:
    """The page a browser gets: plain (no navigation, which would need the database), 503, Retry-After."""
    note_outage(exc)
    html = render_to_string("errors/503.html", {"timed_out": _timed_out(exc),
                                                "retry_after": settings.OUTAGE_RETRY_AFTER_SECONDS})
    response = HttpResponse(html, status=503)
    response["Retry-After"] = retry_after()
    return response


def outage_answer(request: HttpRequest, exc: BaseException) -> HttpResponse:
    return outage_response(exc) if request.path.startswith("/api/") else outage_page(exc)


@contextmanager
def statement_timeout(milliseconds: int) -> Iterator[Callable[[], None]]:
    """Run the block in one transaction whose statements PostgreSQL cancels after ``milliseconds``
    (a lock held elsewhere included), so a stuck query fails fast instead of holding a web worker.
    Yields ``abandon()``, which rolls that transaction back instead of committing it. Elsewhere
    (SQLite) it does nothing: SQLite's own busy timeout bounds its waits."""
    if connection.vendor != "postgresql" or milliseconds <= 0:
        yield lambda: None
        return
    # Outermost in production (no ATOMIC_REQUESTS). Inside someone else's transaction (a test's) it
    # adds no savepoint and leaves the rollback to that transaction's owner.
    outermost = not connection.in_atomic_block
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            # SET LOCAL takes no bind parameters; the value is an int from settings.
            cursor.execute(f"SET LOCAL statement_timeout = {int(milliseconds)}")
        yield (lambda: transaction.set_rollback(True)) if outermost else (lambda: None)


class DatabaseOutageMiddleware:
    """Requests that hit a database outage outside DRF's own error handling (e.g. while opening the
    connection) answer 503: JSON under /api/, the outage page elsewhere. An outage raised outside any
    view (a middleware saving the session) reaches ``clearance.views.server_error``, which answers
    the same."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_outage(exception):
            return outage_answer(request, exception)
        return None
