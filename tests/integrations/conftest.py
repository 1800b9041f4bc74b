"""Webhook fixtures: an administrator, a receiver on 127.0.0.1 (allowed by WEBHOOK_ALLOWED_HOSTS),
short retry waits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clearance.roles import Role
from integrations.choices import SUBSCRIBABLE
from integrations.services import webhook_create
from tests.integrations.receiver import Receiver


@pytest.fixture
def admin(db: None) -> Any:
    user = get_user_model().objects.create_user(username="admin", password="admin-pass-123",  # noqa: S106
                                                email="admin@example.com", first_name="Ada")
    user.groups.add(Group.objects.get_or_create(name=Role.ADMIN.value)[0])
    return user


@pytest.fixture
def local_webhooks(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1
    settings.WEBHOOK_RETRY_MAX_SECONDS = 4
    settings.WEBHOOK_TIMEOUT_SECONDS = 2.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def hook(admin: Any, url: str, *, fmt: str = "generic", events: list[str] | None = None, **extra: Any) -> Any:
    """A webhook subscribed to every event kind (or ``events``); returns (webhook, secret)."""
    saved = webhook_create(actor=admin, name=extra.pop("name", "Ops receiver"), url=url, format=fmt,
                           events=events or [k.value for k in SUBSCRIBABLE], **extra)
    return saved.webhook, saved.secret
