"""No dead links: for every demo persona, walk the pages reachable from the home page and open every
link on them (every href starting with "/"); none may answer 403 or 404 to that persona.

The walk is breadth-first from "/". Every distinct link found is opened (its status checked), but only
a few pages of each URL shape (ids and slugs folded) are parsed for further links, which keeps the walk
bounded while still reaching every kind of page: a system page, a request, a review, a queue..."""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from html import unescape

import pytest
from django.contrib.auth import get_user_model

from clearance.demo import seed_demo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]

HREF = re.compile(r'href="(/[^"]*)"')
# Parse at most this many pages of one URL shape for further links; every link found is still opened.
PAGES_PER_SHAPE = 3
# Not pages: the admin and the API (the permission matrix and the API tests cover them), static files,
# downloads that render a file (PDFs, CSV, archives) are opened but not parsed.
NOT_WALKED = ("/admin/", "/api/", "/static/", "/media/")


def shape(path: str) -> str:
    """The URL with its ids and query folded, so /reviews/12/ and /reviews/13/ count as one shape."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    parts = ["<n>" if part.isdigit() else part for part in path.split("/")]
    # A slug right after /systems/ is an id too.
    if len(parts) > 2 and parts[1] == "systems" and parts[2]:
        parts[2] = "<slug>"
    return "/".join(parts)


@pytest.fixture
def personas() -> list[str]:
    return [name for name, _, _ in seed_demo().logins]


def walk(client, persona: str) -> tuple[list[str], int, int]:
    failures: list[str] = []
    status: dict[str, int] = {}
    parsed_by_shape: Counter[str] = Counter()
    queue: deque[tuple[str, str]] = deque([("/", "(start)")])
    parsed = 0
    while queue:
        url, found_on = queue.popleft()
        if url not in status:
            response = client.get(url)
            status[url] = response.status_code
            if response.status_code in (403, 404):
                failures.append(f"{persona}: {found_on} links to {url}, which answers {response.status_code}")
                continue
            if response.status_code != 200:
                continue
            if not response.get("Content-Type", "").startswith("text/html"):
                continue
            key = shape(url)
            if parsed_by_shape[key] >= PAGES_PER_SHAPE:
                continue
            parsed_by_shape[key] += 1
            parsed += 1
            for href in HREF.findall(response.content.decode()):
                link = unescape(href).split("#", 1)[0]
                if not link or link.startswith("//") or link.startswith(NOT_WALKED) or link in status:
                    continue
                queue.append((link, url))
    return failures, parsed, len(status)


def test_no_link_leads_to_a_page_its_viewer_may_not_open(client, personas: list[str]) -> None:
    started = time.monotonic()
    User = get_user_model()
    failures: list[str] = []
    sizes = {}
    for persona in personas:
        client.force_login(User.objects.get(username=persona))
        found, parsed, opened = walk(client, persona)
        failures += found
        sizes[persona] = (parsed, opened)
        client.logout()
    elapsed = time.monotonic() - started
    print(f"pages parsed / links opened per persona: {sizes}; {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
    # The size of the walk, so a change that empties the pages cannot pass it silently.
    assert len(personas) >= 9
    assert all(parsed >= 10 and opened >= 30 for parsed, opened in sizes.values()), sizes
