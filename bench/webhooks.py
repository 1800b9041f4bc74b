"""Webhook benchmark: what emitting costs a service call, and how fast a worker delivers.

    uv run python bench/webhooks.py [--runs 40] [--deliveries 300]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/webhooks.py

1. Cost added to a service that emits: ``review_decide`` (a decision: locks, audit, readiness
   marked dirty, notifications, and the ``review.decided`` event) timed with no webhook registered,
   with webhooks subscribed to other kinds only (emit finds none: one query), and with 1 and 5
   webhooks subscribed (an event row, a delivery and an outbox message each). The outbox relay after
   the commit is switched off so nothing is published: what is measured is the caller's cost.
2. Delivery throughput: ``delivery_attempt`` (what the Celery task runs: claim, sign, POST, record)
   against a local receiver on 127.0.0.1 that answers 200 at once, one after another in this
   process: the rate one worker process sustains, broker overhead not included.

Uses a throwaway database (a temp SQLite file unless DATABASE_URL is set; it must be disposable).
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
os.environ.setdefault("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def users() -> dict[str, User]:
    made = {}
    for name, group in (("requester", "requester"), ("lead", "governance-lead"), ("security", "security-reviewer"),
                        ("legal", "legal-reviewer"), ("privacy", "privacy-reviewer"), ("admin", "admin")):
        user = User.objects.create_user(name, password="bench-pass", email=f"{name}@example.com")  # noqa: S106
        user.groups.add(Group.objects.get_or_create(name=group)[0])
        made[name] = user
    return made


def open_reviews(people: dict[str, User], n: int) -> list[Any]:
    from governance.models import Review
    from governance.services.reviews import reviews_open
    from intake import services as intake

    reviews = []
    for i in range(n):
        req = intake.request_create_draft(
            requester=people["requester"], title=f"Bench request {i}",
            problem="Agents spend six minutes reading long ticket threads.",
            business_outcome="Cut handling time from 14 to 10 minutes (baseline Q3).",
            why_ai="Threads are free text; rules cannot summarise them.", alternatives_considered=["rules"],
            data_categories=["personal"], customer_facing=False, human_in_the_loop=True,
            interacts_with_people=False, vendor_model="gpt-4o")
        intake.request_submit(actor=people["requester"], request=req)
        intake.request_start_triage(actor=people["lead"], request=req)
        req.refresh_from_db()
        intake.request_set_tier(actor=people["lead"], request=req, tier=req.suggested_tier or "limited")
        reviews_open(actor=people["lead"], request=req, kinds=["security"])
        reviews.append(Review.objects.get(request=req, kind="security"))
    return reviews


def time_decisions(people: dict[str, User], runs: int) -> float:
    from governance.services.reviews import review_decide

    reviews = open_reviews(people, runs)
    took = []
    for review in reviews:
        started = time.perf_counter()
        review_decide(actor=people["security"], review=review, decision="approved", rationale="Checked.")
        took.append(time.perf_counter() - started)
    return statistics.median(took) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--deliveries", type=int, default=300)
    args = parser.parse_args()
    call_command("migrate", interactive=False, verbosity=0)

    from clearance import outbox
    from integrations.choices import EventKind
    from integrations.delivery import delivery_attempt
    from integrations.events import emit
    from integrations.models import Delivery, Webhook
    from integrations.services import webhook_create

    outbox.relay_pending = lambda **kwargs: 0  # the caller's cost only: nothing is published
    people = users()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    def hooks(n: int, events: list[str]) -> None:
        Webhook.objects.all().delete()
        for i in range(n):
            webhook_create(actor=people["admin"], name=f"hook {i}", url=url, format="generic", events=events)

    rows = []
    for label, n, events in (("no webhook", 0, []), ("5 webhooks, other kinds", 5, ["gate.blocked"]),
                             ("1 webhook subscribed", 1, ["review.decided"]),
                             ("5 webhooks subscribed", 5, ["review.decided"])):
        hooks(n, events)
        time_decisions(people, 5)  # warm up
        rows.append((label, time_decisions(people, args.runs)))
    base = rows[0][1]
    print(f"review_decide, median of {args.runs} ({os.environ.get('DATABASE_URL', 'sqlite')[:10]}):")
    for label, ms in rows:
        print(f"  {label:26s} {ms:7.2f} ms   x{ms / base:.3f}")

    # The emit call alone, inside a transaction like a service's, many times: on a busy host the
    # service's own spread hides a difference this small.
    from django.db import transaction

    print("emit alone (review.decided) in a transaction of its own (its commit included: an upper bound),"
          " median of 200, and what it adds to the median review_decide above:")
    subject = people["admin"]
    for label, n, events in (("no webhook subscribed", 1, ["gate.blocked"]), ("1 webhook subscribed", 1,
                                                                               ["review.decided"]),
                             ("5 webhooks subscribed", 5, ["review.decided"])):
        hooks(n, events)
        samples: list[float] = []
        for i in range(200):
            started = time.perf_counter()
            with transaction.atomic():
                emit(kind=EventKind.REVIEW_DECIDED, subject=subject, actor=subject, summary=f"bench {i}",
                     payload={"decision": "approved", "n": i})
            samples.append(time.perf_counter() - started)
        ms = statistics.median(samples) * 1000
        print(f"  {label:26s} {ms:7.3f} ms   x{(base + ms) / base:.3f} of review_decide")

    hooks(1, ["incident.opened"])
    webhook = Webhook.objects.get()
    for i in range(args.deliveries):
        emit(kind=EventKind.INCIDENT_OPENED, subject=webhook, summary=f"bench {i}", payload={"n": i})
    ids = list(Delivery.objects.filter(webhook=webhook).values_list("pk", flat=True))
    started = time.perf_counter()
    delivered = sum(1 for pk in ids if (o := delivery_attempt(delivery_id=pk)) and o.status == "delivered")
    took = time.perf_counter() - started
    print(f"delivery throughput, one process, local receiver: {delivered}/{len(ids)} delivered in {took:.2f} s "
          f"= {delivered / took:.0f} deliveries/s ({took / max(delivered, 1) * 1000:.1f} ms each)")
    server.shutdown()


if __name__ == "__main__":
    main()
