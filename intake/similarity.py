"""Similar requests and existing systems, by token and trigram overlap (pure Python, so it behaves
the same on SQLite and PostgreSQL). Computed once when a request is submitted and stored on it, so
the triage board reads it without extra queries."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catalog.models import AISystem

STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or our so that the their this to was we "
    "were will with without ai use using tool model based new via per each all any can into out up".split()
)
WORD = re.compile(r"[a-z0-9]+")
THRESHOLD = 0.4
MAX_MATCHES = 5


def tokens(text: str) -> frozenset[str]:
    return frozenset(w for w in WORD.findall((text or "").lower()) if len(w) > 2 and w not in STOPWORDS)


def trigrams(text: str) -> frozenset[str]:
    norm = " ".join(WORD.findall((text or "").lower()))
    padded = f"  {norm} "
    return frozenset(padded[i:i + 3] for i in range(len(padded) - 2))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def similarity(title_a: str, body_a: str, title_b: str, body_b: str) -> float:
    """The higher of title trigram similarity (catches rewordings and typos) and word overlap of
    title plus description (catches the same idea in other words)."""
    by_title = _jaccard(trigrams(title_a), trigrams(title_b))
    by_words = _jaccard(tokens(f"{title_a} {body_a}"), tokens(f"{title_b} {body_b}"))
    return max(by_title, by_words)


@dataclass(frozen=True)
class Match:
    type: str  # request | system
    id: int
    label: str
    title: str
    score: float

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "label": self.label, "title": self.title,
                "score": round(self.score, 2)}


def find_similar(request: Any, *, requests: Iterable[Any], systems: Iterable[Any]) -> list[Match]:
    found = []
    for other in requests:
        if other.pk == request.pk:
            continue
        score = similarity(request.title, request.problem, other.title, other.problem)
        if score >= THRESHOLD:
            found.append(Match("request", other.pk, f"REQ-{other.pk:04d}", other.title, score))
    for system in systems:
        score = similarity(request.title, request.problem, system.name, system.purpose)
        if score >= THRESHOLD:
            found.append(Match("system", system.pk, system.slug, system.name, score))
    found.sort(key=lambda m: -m.score)
    return found[:MAX_MATCHES]


def similar_for(request: Any) -> list[dict[str, Any]]:
    """Compare with every other live request and every catalog system (two queries)."""
    from intake.models import UseCaseRequest

    others = (
        UseCaseRequest.objects.exclude(status__in=["draft", "withdrawn"]).exclude(pk=request.pk)
        .only("pk", "title", "problem")
    )
    systems = AISystem.objects.exclude(lifecycle_stage="retired").only("pk", "slug", "name", "purpose")
    if getattr(request, "system_id", None):
        systems = systems.exclude(pk=request.system_id)
    return [m.as_json() for m in find_similar(request, requests=others.iterator(), systems=systems.iterator())]
