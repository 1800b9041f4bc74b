from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from clearance.errors import DomainError
from clearance.models import ApiToken, AuditEvent
from clearance.tokens import api_token_create, resolve_token, token_digest

pytestmark = pytest.mark.django_db


def test_token_is_prefixed_shown_once_and_stored_as_a_keyed_digest(personas, settings):
    issued = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"])
    assert issued.plaintext.startswith("clr_") and issued.plaintext[4:16] == issued.token.key_id
    stored = ApiToken.objects.get()
    assert issued.plaintext not in str(stored.__dict__)
    assert stored.digest == token_digest(issued.plaintext)
    assert resolve_token(issued.plaintext) == stored
    settings.TOKEN_PEPPER = "another pepper"
    assert resolve_token(issued.plaintext) is None, "the digest is keyed by the server-side pepper"
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1


def test_expired_wrong_and_malformed_tokens_resolve_to_nothing(personas):
    issued = api_token_create(user=personas["owner"], name="ci", scopes=["read"],
                              expires_at=timezone.now() + timedelta(seconds=60))
    assert resolve_token(issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")) is None
    assert resolve_token("Bearer nonsense") is None
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert resolve_token(issued.plaintext) is None


def test_unknown_scope_is_refused(personas):
    with pytest.raises(DomainError) as info:
        api_token_create(user=personas["owner"], name="x", scopes=["gate:everything"])
    assert info.value.field == "scopes"


def test_create_api_token_command(personas):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "--user", "owner", "--scopes", "gate:check", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert resolve_token(token).user == personas["owner"]
    assert "shown once" in err.getvalue()
    with pytest.raises(CommandError, match="--user"):
        call_command("create_api_token", "--user", "ghost", "--scopes", "gate:check")
    with pytest.raises(CommandError, match="--scopes"):
        call_command("create_api_token", "--user", "owner", "--scopes", "root")
