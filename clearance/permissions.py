"""API permission: closed by default, scoped for token callers."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions

from clearance.models import ApiToken
from clearance.tokens import Scope


class HasRoleScope(permissions.BasePermission):
    """Closed by default: an authenticated user, and for token callers the scope the view needs.

    A view names its scopes by HTTP method in ``required_scopes``; otherwise reads need ``read`` and writes
    ``write``. Session users act with all scopes; what they may touch is decided by the
    ``visible_to`` querysets and the services.
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


