"""Who may see and change outgoing webhooks: administrators only.

A webhook's URL can carry a credential (Slack and Teams put theirs in the path) and its deliveries
show what left the building, so even the readers of the whole portfolio (governance leads,
auditors) see none of it. Closed by default: an anonymous or inactive user sees nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import QuerySet

from clearance.roles import Role, has_role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

QS = TypeVar("QS", bound=QuerySet[Any])


def can_manage_webhooks(user: User | AnonymousUser | None) -> bool:
    return has_role(user, Role.ADMIN)


def visible_webhooks(user: User | AnonymousUser | None, webhooks: QS) -> QS:
    return webhooks.all() if can_manage_webhooks(user) else webhooks.none()
