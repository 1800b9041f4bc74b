"""Who may see and do what with the platform's own objects: the API (scopes), API tokens and the audit
trail. Each domain app has its own module (``catalog.permissions``, ``intake.permissions``,
``governance.permissions``); roles are named in ``clearance.roles`` only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Q, QuerySet
from rest_framework import permissions

from clearance.models import ApiToken
from clearance.roles import Role, has_role, reads_portfolio
from clearance.tokens import Scope

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

QS = TypeVar("QS", bound=QuerySet[Any])


class HasRoleScope(permissions.BasePermission):
    """Closed by default: an authenticated user, and for token callers the scope the view needs.

    A view names its scopes by HTTP method in ``required_scopes``; otherwise reads need ``read`` and writes
    ``write``. Session users act with all scopes; what they may touch is decided by the
    ``visible_to`` querysets and the services, which ask the apps' permission modules.
    """

    message = "the token lacks the scope this endpoint needs"

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated and request.user.is_active):
            return False
        if isinstance(request.auth, ApiToken):
            by_method = getattr(view, "required_scopes", {})
            scope = by_method.get(request.method) or (
                Scope.READ if request.method in permissions.SAFE_METHODS else Scope.WRITE
            )
            if scope not in request.auth.scopes:
                self.message = f"the token lacks the '{scope}' scope"
                return False
        return True


def visible_tokens(user: User | AnonymousUser | None, tokens: QS) -> QS:
    """Administrators see every token; everyone else their own (and may revoke what they see)."""
    if has_role(user, Role.ADMIN):
        return tokens.all()
    if not getattr(user, "is_authenticated", False):
        return tokens.none()
    return tokens.filter(user=user)


def token_allows_system(token: ApiToken, slug: str) -> bool:
    """A token restricted to some systems may act only on those."""
    return not token.system_slugs or slug in token.system_slugs


def token_restricted_to(request: Any, queryset: QS, *paths: str) -> QS:
    """Narrow ``queryset`` to the systems a restricted token names; ``paths`` are the lookups from the
    model to a system slug (any one matching keeps the row). Session callers and unrestricted tokens
    keep everything ``visible_to`` gave them. A row reached by no path (a request not yet in the
    catalog) is not the token's to read."""
    token = getattr(request, "auth", None)
    if not isinstance(token, ApiToken) or not token.system_slugs:
        return queryset
    match = Q()
    for path in paths:
        match |= Q(**{f"{path}__in": token.system_slugs})
    return queryset.filter(match)


def can_read_audit(user: User | AnonymousUser | None) -> bool:
    """The audit trail is for the governance team and auditors."""
    return reads_portfolio(user)
