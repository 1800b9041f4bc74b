"""SCIM filters (RFC 7644 section 3.4.2.2) as Django ``Q`` objects.

django-scim2's own filter classes send raw SQL written for PostgreSQL; Clearance also runs on
SQLite, so the filter is parsed by the same scim2-filter-parser (its lexer and parser) and turned
into a ``Q`` by that package's Django transpiler, made strict: an attribute we cannot filter on is a
400 ``invalidFilter`` instead of being dropped from the expression (which would widen the result)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldError, ValidationError
from django.db.models import Q, QuerySet
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler

from provisioning.scim.errors import ScimError

MAX_FILTER_LENGTH = 1000

# (attribute, sub-attribute, schema URN) -> ORM path; names are matched without regard to case.
USER_ATTRS: dict[tuple[str, str | None, str | None], str] = {
    ("userName", None, None): "username",
    ("externalId", None, None): "provisioning__external_id",
    ("displayName", None, None): "provisioning__display_name",
    ("name", "givenName", None): "first_name",
    ("name", "familyName", None): "last_name",
    ("emails", None, None): "email",
    ("emails", "value", None): "email",
    ("active", None, None): "is_active",
    ("meta", "created", None): "date_joined",
    # A user's SCIM id is its primary key.
    ("id", None, None): "pk",
}
GROUP_ATTRS: dict[tuple[str, str | None, str | None], str] = {
    ("displayName", None, None): "display_name",
    ("externalId", None, None): "external_id",
    ("id", None, None): "scim_id",
    ("members", None, None): "members__pk",
    ("members", "value", None): "members__pk",
    ("meta", "created", None): "created_at",
    ("meta", "lastModified", None): "updated_at",
}

class _StrictTranspiler(Transpiler):  # type: ignore[misc]  # scim2-filter-parser ships no types
    def visit_AttrPath(self, node: Any) -> Any:
        found = super().visit_AttrPath(node)
        if found is None:
            name = node.attr_name + (f".{node.sub_attr.value}" if node.sub_attr else "")
            raise ScimError(400, f"filter: cannot filter on '{name}'", "invalidFilter")
        return found


def _parse(text: str, attrs: dict[tuple[str, str | None, str | None], str]) -> Q:
    if len(text) > MAX_FILTER_LENGTH:
        raise ScimError(400, f"filter: at most {MAX_FILTER_LENGTH} characters", "invalidFilter")
    if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ScimError(400, "filter: contains a NUL or an unpaired surrogate", "invalidFilter")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
        query = _StrictTranspiler(attrs).transpile(tree)
    except ScimError:
        raise
    except (SCIMParserError, ValueError, TypeError, AttributeError, IndexError, NotImplementedError,
            RecursionError) as exc:
        # The parser and transpiler raise these for text that is not a filter they understand.
        raise ScimError(400, f"filter: not a SCIM filter we can read ({exc})"[:300], "invalidFilter") from exc
    if not isinstance(query, Q):
        raise ScimError(400, "filter: not a SCIM filter we can read", "invalidFilter")
    return query


def filter_queryset(qs: QuerySet[Any], text: str, *, users: bool) -> QuerySet[Any]:
    query = _parse(text, USER_ATTRS if users else GROUP_ATTRS)
    try:
        filtered = qs.filter(query)
        # Values of the wrong type (a word for a boolean, a date that is none) fail when the SQL is
        # built: build it now, inside this try, rather than when the page is read.
        str(filtered.query)
    except (ValidationError, ValueError, TypeError, FieldError) as exc:
        raise ScimError(400, "filter: a value does not fit its attribute", "invalidFilter") from exc
    # A filter through members joins a row per member: one answer per resource.
    return filtered.distinct() if "members__" in str(query) else filtered
