"""Reads of reviews."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from catalog.models import AISystem
from governance.models import Review
from governance.policy.reviews import kind_role


def reviews_of_system(system: AISystem) -> QuerySet[Review]:
    return Review.objects.filter(Q(system=system) | Q(request__system=system))


def reviewers_of(kind: str) -> Any:
    """The active users who hold the role that decides reviews of this kind."""
    role = kind_role(kind)
    if role is None:
        return get_user_model().objects.none()
    return get_user_model().objects.filter(groups__name=role.value, is_active=True)
