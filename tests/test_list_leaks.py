"""No page lists what its viewer may not open. On the demo portfolio, for every persona: each list
page's links to objects must open (200) for that persona, and no list page names a system the
persona may not open (its slug or its name)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from catalog.models import AISystem
from clearance.demo import seed_demo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]

LIST_PAGES = [
    "/", "/systems/", "/vendors/", "/datasets/", "/requests/", "/triage/", "/readiness/", "/evidence/",
    "/ownership-gaps/", "/reviews/queue/security/", "/reviews/queue/legal/", "/reviews/queue/privacy/",
    "/search/?q=a", "/search/?q=support", "/search/?q=screening", "/audit/", "/notifications/",
    "/datasets/?system=cv-screening", "/datasets/?system=support-copilot",
    "/compliance/", "/compliance/?framework=iso-42001", "/compliance/export.csv",
    "/webhooks/", "/webhooks/?status=failed",
    "/incidents/", "/incidents/?status=", "/incidents/?status=closed&severity=high",
    "/compliance/", "/compliance/?framework=iso-42001", "/compliance/export.csv", "/dashboard/",
    "/systems/?owner=me",
]
# Links to one object: a system (and its sub-pages), vendor, dataset, request, review, decision,
# evidence source, sync run, triage item, export, webhook, incident.
OBJECT_LINK = re.compile(
    r'href="(/(?:systems/[\w-]+/[^"]*|vendors/\d+/|datasets/\d+/|requests/\d+/[^"]*|reviews/\d+/|'
    r'decisions/\d+/|evidence/sources/\d+/|evidence/runs/\d+/|triage/\d+/|exports/\d+/|webhooks/\d+/|'
    r'incidents/\d+/)(?:\?[^"]*)?)"')


@pytest.fixture
def demo() -> list[str]:
    seed = seed_demo()
    return [name for name, _, _ in seed.logins]


def test_every_listed_object_opens_for_its_viewer(client, demo: list[str]) -> None:
    User = get_user_model()
    checked_links, checked_pages, failures = 0, 0, []
    everything = list(AISystem.objects.values_list("slug", "name"))
    for persona in demo:
        user = User.objects.get(username=persona)
        client.force_login(user)
        visible = set(AISystem.objects.visible_to(user).values_list("slug", flat=True))
        hidden = [(slug, name) for slug, name in everything if slug not in visible]
        opened: dict[str, int] = {}
        for page in LIST_PAGES:
            response = client.get(page)
            if response.status_code != 200:
                continue  # a page the persona may not open lists nothing to them
            checked_pages += 1
            body = response.content.decode()
            for slug, name in hidden:
                if re.search(rf"(?<![\w-]){re.escape(slug)}(?![\w-])", body) or f">{name}<" in body:
                    failures.append(f"{persona}: {page} names the hidden system {slug}")
            for link in set(OBJECT_LINK.findall(body)):
                link = link.replace("&amp;", "&")
                if link.endswith(("/pdf/", "/download/", "/edit/", "/new/", "/decide/", "/claim/", "/sync/")):
                    continue  # actions and downloads: the permission matrix covers them
                if link not in opened:
                    opened[link] = client.get(link).status_code
                    checked_links += 1
                if opened[link] != 200:
                    failures.append(f"{persona}: {page} links to {link}, which answers {opened[link]}")
        client.logout()
    assert not failures, "\n".join(sorted(set(failures)))
    # The size of the check, so a change that empties the pages cannot pass it silently.
    assert len(demo) >= 9 and checked_pages >= 9 * 8 and checked_links >= 200, (checked_pages, checked_links)
    print(f"personas={len(demo)} list pages={checked_pages} object links opened={checked_links}")


def test_source_paths_are_shown_only_to_editors(client, demo: list[str], settings: Any) -> None:
    from catalog.models import EvidenceSource
    from catalog.permissions import can_edit_system

    User = get_user_model()
    sources = [s for s in EvidenceSource.objects.select_related("system") if s.location.startswith("/")]
    assert sources, "the demo has file sources"
    seen_by_reader = 0
    for persona in demo:
        user = User.objects.get(username=persona)
        client.force_login(user)
        for source in sources:
            response = client.get(f"/evidence/sources/{source.pk}/")
            if response.status_code != 200:
                continue
            body = response.content.decode()
            directory = source.location.rsplit("/", 1)[0]
            if can_edit_system(user, source.system):
                assert source.location in body, persona
            else:
                seen_by_reader += 1
                assert directory not in body, f"{persona} sees the server path of {source.name}"
                assert source.location.rsplit("/", 1)[1] in body
        client.logout()
    assert seen_by_reader, "some persona reads a source they may not edit"
