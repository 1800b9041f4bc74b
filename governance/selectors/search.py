"""Search across systems, model cards, decision records and requests.

PostgreSQL: full-text search. Each table has a GIN expression index on exactly the ``to_tsvector``
expression queried here (migration ``governance.0007_search_indexes``), the query is parsed with
``websearch_to_tsquery`` (quotes, OR, -exclusion), and hits are ranked with ``ts_rank``.
SQLite: every word must appear (case-insensitive substring) in one of the same fields; hits are
ordered by recency. Both paths start from ``visible_to(user)``, so search never shows what a page
would hide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL

from catalog.models import AISystem, ModelCard
from governance.models import DecisionRecord
from intake.models import UseCaseRequest

CONFIG = "english"

# table → the columns of its search document, in index order.
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "catalog_aisystem": ("name", "slug", "purpose", "vendor", "model_name"),
    "catalog_modelcard": ("model_details", "intended_use", "out_of_scope_use", "training_data", "evaluation_data",
                          "metrics", "limitations", "ethical_considerations", "caveats", "body_markdown"),
    "governance_decisionrecord": ("title", "context", "options", "decision", "consequences"),
    "intake_usecaserequest": ("title", "problem", "business_outcome", "why_ai", "vendor_model"),
}


def document_sql(table: str, *, qualified: bool) -> str:
    """The to_tsvector expression for a table; the index and the query use the same text."""
    def col(name: str) -> str:
        return f'"{table}"."{name}"' if qualified else f'"{name}"'

    joined = " || ' ' || ".join(f"coalesce({col(c)}, '')" for c in DOCUMENTS[table])
    return f"to_tsvector('{CONFIG}'::regconfig, {joined})"


@dataclass
class Hit:
    kind: str
    title: str
    url: str
    snippet: str
    when: Any


def _postgres(qs: QuerySet[Any], table: str, text: str) -> QuerySet[Any]:
    query = SearchQuery(text, config=CONFIG, search_type="websearch")
    # The SQL is built from the constant column names in DOCUMENTS; user text goes only into SearchQuery.
    document = RawSQL(document_sql(table, qualified=True), [], output_field=SearchVectorField())  # noqa: S611
    ranked: QuerySet[Any] = qs.annotate(document=document).filter(document=query).annotate(
        rank=SearchRank(F("document"), query)).order_by("-rank")
    return ranked


def _fallback(qs: QuerySet[Any], table: str, text: str) -> QuerySet[Any]:
    words = [w for w in text.replace('"', " ").split() if w and not w.startswith("-") and w.upper() != "OR"]
    for word in words[:8]:
        any_field = Q()
        for column in DOCUMENTS[table]:
            any_field |= Q(**{f"{column}__icontains": word})
        qs = qs.filter(any_field)
    return qs if words else qs.none()


def _match(qs: QuerySet[Any], table: str, text: str) -> QuerySet[Any]:
    if connection.vendor == "postgresql":
        return _postgres(qs, table, text)
    return _fallback(qs, table, text)


def _snippet(*parts: str) -> str:
    text = " ".join(p for p in parts if p)
    return text[:220] + ("…" if len(text) > 220 else "")


def search(user: User | AnonymousUser, text: str, *, limit: int = 20) -> dict[str, list[Hit]]:
    """Up to ``limit`` hits per kind (four queries)."""
    text = text.strip()[:200]
    if not text:
        return {}
    systems = AISystem.objects.visible_to(user)
    results: dict[str, list[Hit]] = {}
    found = _match(systems, "catalog_aisystem", text)
    if connection.vendor != "postgresql":
        found = found.order_by("name")
    results["Systems"] = [Hit("system", s.name, s.get_absolute_url(), _snippet(s.purpose), s.updated_at)
                          for s in found[:limit]]
    cards = _match(ModelCard.objects.filter(system__in=systems).select_related("system"), "catalog_modelcard", text)
    if connection.vendor != "postgresql":
        cards = cards.order_by("-created_at")
    results["Model cards"] = [
        Hit("model card", f"{c.system.name} — model card v{c.version} ({c.get_status_display().lower()})",
            c.get_absolute_url(), _snippet(c.model_details, c.intended_use, c.limitations), c.created_at)
        for c in cards[:limit]]
    decisions = _match(DecisionRecord.objects.visible_to(user).select_related("system"), "governance_decisionrecord",
                       text)
    if connection.vendor != "postgresql":
        decisions = decisions.order_by("-created_at")
    results["Decision records"] = [
        Hit("decision", f"{d.reference}: {d.title} ({d.get_status_display().lower()})", d.get_absolute_url(),
            _snippet(d.decision, d.context), d.created_at) for d in decisions[:limit]]
    requests = _match(UseCaseRequest.objects.visible_to(user), "intake_usecaserequest", text)
    if connection.vendor != "postgresql":
        requests = requests.order_by("-pk")
    results["Requests"] = [Hit("request", f"{r.reference}: {r.title}", r.get_absolute_url(),
                               _snippet(r.problem), getattr(r, "created_at", None)) for r in requests[:limit]]
    return results
