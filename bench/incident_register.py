"""Incident register benchmark: server time and query count of the register pages (list, filters, a
system's incidents, an incident) with N incidents, next to a baseline page measured in the same run.

    uv run python bench/incident_register.py [--incidents 1000] [--systems 50] [--runs 40]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/incident_register.py

Uses a throwaway database (a temp SQLite file unless DATABASE_URL is set; that database is migrated and
must be disposable). Incidents are bulk-inserted, not reported through the services: this measures the
read side. The baseline is the empty notifications list. Figures, not assertions.
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

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def seed(n: int, n_systems: int) -> tuple[User, User, str, int]:
    from django.utils import timezone

    from catalog.models import AISystem
    from risks.models import Incident
    from risks.reporting import report_due

    lead = User.objects.create_user("lead", password="bench-pass", first_name="Grace")  # noqa: S106
    lead.groups.add(Group.objects.get_or_create(name="governance-lead")[0])
    owner = User.objects.create_user("owner", password="bench-pass", first_name="Omar")  # noqa: S106
    owner.groups.add(Group.objects.get_or_create(name="system-owner")[0])
    systems = AISystem.objects.bulk_create([
        AISystem(slug=f"system-{i}", name=f"System {i}", purpose="Bench", risk_tier="high",
                 technical_owner=owner if i % 5 == 0 else None) for i in range(n_systems)])
    rng = random.Random(7)  # noqa: S311 - reproducible fixture data, not security
    now = timezone.now()
    incidents = []
    for i in range(n):
        aware = now - timedelta(days=rng.uniform(0, 60))
        serious = rng.random() < 0.3
        status = rng.choice(["triage", "investigating", "investigating", "mitigated", "closed", "closed"])
        incidents.append(Incident(
            title=f"Bench incident {i}", description="Bench incident", severity=rng.choice(
                ["low", "medium", "high", "critical"]), harm_categories=["privacy"], detected_at=aware,
            aware_at=aware, serious_facts=["health"] if serious else [], is_serious=serious,
            report_deadline="general" if serious else "", report_due_at=report_due(aware, 15) if serious else None,
            report_status="due" if serious else "not_required", status=status, owner=owner, reported_by=lead,
            created_at=aware, updated_at=aware, closed_at=aware + timedelta(days=1) if status == "closed" else None))
    Incident.objects.bulk_create(incidents, batch_size=1000)
    links = Incident.systems.through
    links.objects.bulk_create([links(incident_id=pk, aisystem_id=systems[pk % n_systems].pk)
                               for pk in Incident.objects.values_list("pk", flat=True)], batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return lead, owner, systems[0].slug, Incident.objects.filter(systems=systems[0]).values_list("pk", flat=True)[0]



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    lead, owner, slug, one = seed(args.incidents, args.systems)
    print(f"database: {connection.vendor}; seeded {args.incidents:,} incidents on {args.systems} systems "
          f"in {time.perf_counter() - started:.1f} s")
    clients = {}
    for user in (lead, owner):
        client = Client()
        client.force_login(user)
        clients[user.username] = client
    pages = [
        ("baseline: notifications", "lead", "/notifications/"),
        ("register: open (lead)", "lead", "/incidents/"),
        ("register: all (lead)", "lead", "/incidents/?status="),
        ("register: all, page 10", "lead", "/incidents/?status=&page=10"),
        ("register: serious overdue", "lead", "/incidents/?status=&overdue=yes"),
        ("register: critical, one system", "lead", f"/incidents/?status=&severity=critical&system={slug}"),
        ("register: open (owner)", "owner", "/incidents/"),
        ("system's incidents", "lead", f"/systems/{slug}/incidents/"),
        ("an incident", "lead", f"/incidents/{one}/"),
        ("API: list", "lead", "/api/v1/incidents/"),
    ]
    baseline = None
    print(f"{'page':<32} {'median':>10} {'p95':>10} {'ratio':>8} {'queries':>8}")
    for name, who, url in pages:
        client = clients[who]

        def call(client: Client = client, url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            call()
        count = len(queries)
        samples = timed(call, args.runs)
        median = statistics.median(samples)
        p95 = statistics.quantiles(samples, n=20)[18]
        baseline = baseline or median
        print(f"{name:<32} {median:8.1f}ms {p95:8.1f}ms {median / baseline:7.1f}x {count:>8}")


if __name__ == "__main__":
    main()
