"""Queue page benchmark: server time and query count of the review queues and the triage board
with 10,000 requests and their reviews, next to a baseline measured in the same run.

    uv run python bench/queue_pages.py [--requests 10000] [--runs 60]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/queue_pages.py

Uses a throwaway database (a temp SQLite file unless DATABASE_URL is set; that database is
migrated and must be disposable). The rows are bulk-inserted, not created through the services:
this measures the read side, and 30,000 audited writes would only measure the seeding. The
baseline is an authenticated page that does almost nothing (the empty notifications list), so
the ratios say what the queue itself costs. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_timing import timed  # noqa: E402

os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

DEPARTMENTS = ["Customer Support", "Finance", "HR", "Marketing", "Sales", "Legal", "IT", "Operations"]
TIERS = ["minimal", "minimal", "limited", "limited", "high", "prohibited"]
WORDS = "ticket invoice contract churn resume chatbot summary forecast fraud triage image translation".split()


def seed(n: int) -> tuple[User, User]:
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from governance.models import Review
    from intake.models import UseCaseRequest

    users: dict[str, User] = {}
    for name, group in (("requester", "requester"), ("lead", "governance-lead"), ("security", "security-reviewer"),
                        ("security2", "security-reviewer"), ("legal", "legal-reviewer"),
                        ("privacy", "privacy-reviewer")):
        user = User.objects.create_user(name, password="bench-pass")  # noqa: S106
        user.groups.add(Group.objects.get_or_create(name=group)[0])
        users[name] = user
    rng = random.Random(42)  # noqa: S311 - reproducible fixture data, not security
    now = timezone.now()
    requests = []
    for i in range(n):
        tier = rng.choice(TIERS)
        requests.append(UseCaseRequest(
            title=f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} assistant {i}",
            problem="Bench", business_outcome="Bench", why_ai="Bench", requester=users["requester"],
            status=rng.choice(["in_review"] * 6 + ["approved", "submitted", "triage"]),
            suggested_tier=tier, risk_tier=tier, department=rng.choice(DEPARTMENTS),
            data_categories=rng.choice([["personal"], ["confidential"], []]),
            submitted_at=now - timedelta(days=rng.uniform(0, 90)),
        ))
    UseCaseRequest.objects.bulk_create(requests, batch_size=1000)
    reviews = []
    for req in UseCaseRequest.objects.only("pk", "status", "submitted_at"):
        if req.status not in ("in_review", "approved"):
            continue
        assert req.submitted_at is not None  # every request seeded above was submitted
        for kind, days in (("security", 5), ("legal", 10), ("privacy", 10)):
            opened = req.submitted_at + timedelta(days=1)
            status = "approved" if req.status == "approved" else rng.choice(["open"] * 4 + ["approved", "changes_requested"])
            assignee = rng.choice([None, users["security"], users["security2"]]) if kind == "security" else None
            reviews.append(Review(
                kind=kind, request_id=req.pk, status=status, assignee=assignee, opened_by=users["lead"],
                opened_at=opened, due_at=opened + timedelta(days=days),
                decided_by=users[kind] if status != "open" else None,
                decided_at=opened + timedelta(days=2) if status != "open" else None,
                expires_at=now + timedelta(days=rng.randint(1, 365)) if status == "approved" else None,
            ))
    Review.objects.bulk_create(reviews, batch_size=2000)
    if connection.vendor == "postgresql":
        # Fresh statistics, as autovacuum would have them in a running system; right after a bulk
        # insert the planner still believes the tables are empty and picks nested loops.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return users["lead"], users["security"]



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    lead, security = seed(args.requests)
    from governance.models import Review

    print(f"database: {connection.vendor}; seeded {args.requests:,} requests and {Review.objects.count():,} reviews "
          f"in {time.perf_counter() - started:.1f} s")
    clients = {}
    for user in (lead, security):
        client = Client()
        client.force_login(user)
        clients[user.username] = client

    pages = [
        ("baseline: notifications", "security", "/notifications/"),
        ("security queue: open", "security", "/reviews/queue/security/"),
        ("security queue: unassigned", "security", "/reviews/queue/security/?view=unassigned"),
        ("security queue: mine", "security", "/reviews/queue/security/?view=mine"),
        ("security queue: all by tier", "security", "/reviews/queue/security/?view=all&sort=tier"),
        ("security queue: filtered", "security", "/reviews/queue/security/?department=Finance&due=overdue&tier=high"),
        ("security queue: page 100", "security", "/reviews/queue/security/?view=all&page=100"),
        ("legal queue as lead", "lead", "/reviews/queue/legal/"),
        ("triage board: all", "lead", "/triage/?stage=all"),
    ]
    baseline = None
    print(f"{'page':<30} {'median':>10} {'p95':>10} {'ratio':>8} {'queries':>8}")
    for name, who, url in pages:
        client = clients[who]

        def call(client: Client = client, url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            call()
        count = len(queries)  # read now: the next request clears the connection's query log
        samples = timed(call, args.runs)
        median = statistics.median(samples)
        p95 = statistics.quantiles(samples, n=20)[18]
        baseline = baseline or median
        print(f"{name:<30} {median:8.1f}ms {p95:8.1f}ms {median / baseline:7.1f}x {count:>8}")


if __name__ == "__main__":
    main()
