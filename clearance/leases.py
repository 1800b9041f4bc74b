"""Leases on tracked work, renewed by a heartbeat while the work runs.

A worker that claims a job (a notification email, a PDF export, an evidence sync run) stamps it with
a lease of ``JOB_LEASE_SECONDS``. While it works, a background thread renews the lease every
``JOB_HEARTBEAT_SECONDS``, and moves the job's outbox message on with it so the sweep does not send
it again meanwhile. A worker killed mid-job stops renewing: within about a lease the job is free to be
taken back, instead of waiting out a time limit sized for the longest job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from clearance.outbox import outbox_defer

log = logging.getLogger(__name__)


def lease_deadline(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=settings.JOB_LEASE_SECONDS)


class LeaseLost(Exception):
    """The job's lease passed and the job was taken back: this worker must not finish it."""


class Heartbeat:
    """Renew a lease from a background thread for as long as the ``with`` block runs.

    ``renew(until)`` extends the job's lease to ``until`` and returns False when the job is no longer
    this worker's (then ``lost`` is set and the beat stops; the work checks its claim before it
    finishes, so it never overwrites the attempt that took over).
    """

    def __init__(self, renew: Callable[[datetime], bool], *, what: str, outbox_id: int | None = None) -> None:
        self._renew = renew
        self._what = what
        self._outbox_id = outbox_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False
        self.beats = 0

    def __enter__(self) -> Heartbeat:
        # A lease claimed inside a transaction that has not committed is invisible to the
        # heartbeat's own connection; nobody else can see it to take it back either.
        if not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._run, name=f"heartbeat {self._what}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing: call it before the transaction that ends the job, so the beat does not
        find the job finished and take that for a lost lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                until = lease_deadline()
                try:
                    held = self._renew(until)
                    if held:
                        outbox_defer(message_id=self._outbox_id, until=until)
                except Exception as exc:  # a database hiccup: the next beat tries again
                    log.warning("heartbeat of %s could not renew its lease: %s", self._what, exc)
                    continue
                if not held and not self._stop.is_set():
                    self.lost = True
                    log.warning("%s: the lease was lost (taken back after it passed); this attempt stops", self._what)
                    return
                self.beats += 1
        finally:
            # This thread's own connection; the worker's connection is untouched.
            connections.close_all()
