"""SCIM benchmark: listing Users with 1,000 users, as an identity provider's full sync reads them.

    uv run python bench/scim_users.py [--users 1000] [--runs 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/scim_users.py

Migrates a throwaway database (a temp SQLite file unless DATABASE_URL is set; that database must be
disposable), creates --users users, each in two of 20 SCIM groups, and a provisioning client. Prints,
as the median of --runs runs in this process, the time and query count of: one page of users
(count=SCIM_MAX_RESULTS), every page in turn (the whole list), a filter on userName, and the groups
list without members. Figures, not assertions: the query counts must not grow with --users.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
os.environ.setdefault("SCIM_RATE_LIMIT", "1000000/min")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from provisioning.models import ProvisionedUser, ScimGroup  # noqa: E402
from provisioning.services import provisioning_client_create  # noqa: E402


def build(count: int) -> str:
    users = User.objects.bulk_create(
        [User(username=f"user{n:05d}@example.com", first_name="Bench", last_name=f"User {n}",
              email=f"user{n:05d}@example.com", password="!") for n in range(count)])  # noqa: S106 - unusable
    users = list(User.objects.filter(username__startswith="user").order_by("pk"))
    ProvisionedUser.objects.bulk_create([ProvisionedUser(user=u, external_id=f"ext-{u.pk}") for u in users])
    groups = [ScimGroup.objects.create(display_name=f"Team {n}") for n in range(20)]
    through = ScimGroup.members.through
    through.objects.bulk_create([through(scimgroup_id=groups[(i + k) % 20].pk, user_id=u.pk)
                                 for i, u in enumerate(users) for k in (0, 7)])
    return provisioning_client_create(name="Bench IdP")[1].plaintext


def measure(client: Client, token: str, path: str, runs: int) -> tuple[float, int, int]:
    headers = {"Authorization": f"Bearer {token}"}
    client.get(path, headers=headers)  # warm-up
    samples, queries, status = [], 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(path, headers=headers)
            samples.append((time.perf_counter() - start) * 1000)
        queries, status = len(captured), response.status_code
    return statistics.median(samples), queries, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    token = build(args.users)
    client = Client()
    page = settings.SCIM_MAX_RESULTS
    print(f"{connection.vendor}, {args.users} users in 20 groups (2 each), page size {page}, median of {args.runs}")
    rows = [(f"one page (count={page})", f"/scim/v2/Users?count={page}"),
            ("filter userName eq", '/scim/v2/Users?filter=userName%20eq%20%22user00500@example.com%22'),
            ("groups, excludedAttributes=members", "/scim/v2/Groups?excludedAttributes=members"),
            ("groups with members", "/scim/v2/Groups")]
    for label, path in rows:
        ms, queries, status = measure(client, token, path, args.runs)
        print(f"  {label:40s} {ms:8.1f} ms  {queries:3d} queries  HTTP {status}")
    pages = (args.users + page - 1) // page
    total_ms, total_queries = 0.0, 0
    for n in range(pages):
        ms, queries, _ = measure(client, token, f"/scim/v2/Users?startIndex={n * page + 1}&count={page}", args.runs)
        total_ms, total_queries = total_ms + ms, total_queries + queries
    label = f"every user, {pages} pages"
    print(f"  {label:40s} {total_ms:8.1f} ms  {total_queries:3d} queries")


if __name__ == "__main__":
    main()
