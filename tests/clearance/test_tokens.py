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


def test_a_token_restricted_to_some_systems(personas, request_in_review):
    issued = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"], systems=["support-copilot"])
    assert issued.token.system_slugs == ["support-copilot"]
    event = AuditEvent.objects.filter(action="api_token.created").latest("seq")
    assert event.data["systems"] == ["support-copilot"]
    with pytest.raises(DomainError, match="unknown system") as info:
        api_token_create(user=personas["owner"], name="x", scopes=["gate:check"], systems=["nope"])
    assert info.value.field == "systems"
    with pytest.raises(DomainError) as info:
        # the outsider may not see the system, so may not restrict a token to it either
        api_token_create(user=personas["outsider"], name="x", scopes=["gate:check"], systems=["support-copilot"])
    assert info.value.field == "systems"
    with pytest.raises(DomainError) as info:
        api_token_create(user=personas["owner"], name="x", scopes=["gate:check"], rate_per_minute=0)
    assert info.value.field == "rate_per_minute"


def test_revocation_is_audited_and_last_use_recorded(personas):
    from clearance.tokens import api_token_revoke

    issued = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"])
    assert issued.token.last_used_at is None
    resolve_token(issued.plaintext)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None
    api_token_revoke(token=issued.token, actor=personas["admin"] if "admin" in personas else personas["owner"])
    api_token_revoke(token=issued.token, actor=personas["owner"])  # twice: one event
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1
    assert resolve_token(issued.plaintext) is None


def test_the_tokens_page_creates_restricted_tokens_and_names_bad_fields(client, personas, request_in_review):
    client.force_login(personas["owner"])
    bad = client.post("/tokens/", {"name": "ci", "scopes": ["gate:check"], "expires_in_days": 30,
                                   "systems": "support-copilot, ghost", "rate_per_minute": ""})
    assert "unknown system(s)" in bad.content.decode() and "ghost" in bad.content.decode()
    assert not ApiToken.objects.exists()
    ok = client.post("/tokens/", {"name": "ci", "scopes": ["gate:check"], "expires_in_days": 30,
                                  "systems": "support-copilot", "rate_per_minute": "30"})
    page = ok.content.decode()
    token = ApiToken.objects.get()
    assert (token.system_slugs, token.rate_per_minute) == (["support-copilot"], 30)
    assert 'id="new-token"' in page and "30/min" in page
