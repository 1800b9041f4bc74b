"""Setting provisioning up: the scim_client command, and SCIM_GROUP_ROLES read and checked at start-up."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from clearance.models import ApiToken, AuditEvent
from provisioning.config import scim_group_roles
from provisioning.models import ProvisioningClient
from tests.provisioning.conftest import Scim


@pytest.mark.django_db
def test_scim_client_command_prints_a_working_token_once(client: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("scim_client", "create", "Entra ID", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert token.startswith("clr_") and "/scim/v2/" in err.getvalue()
    registered = ProvisioningClient.objects.get(name="Entra ID")
    assert not registered.user.has_usable_password() and not registered.user.groups.exists()
    stored = ApiToken.objects.get(user=registered.user)
    assert stored.scopes == ["scim"] and token not in (stored.digest, stored.key_id)
    assert AuditEvent.objects.filter(action="scim.client_created").exists()
    assert Scim(client, token)("get", "/Users").status_code == 200
    out = io.StringIO()
    call_command("scim_client", "token", "entra id", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() != token and ApiToken.objects.filter(user=registered.user).count() == 2
    with pytest.raises(CommandError, match="exists"):
        call_command("scim_client", "create", "ENTRA ID", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no provisioning client"):
        call_command("scim_client", "token", "Okta", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="name"):
        call_command("scim_client", "create", stdout=io.StringIO(), stderr=io.StringIO())
    listing = io.StringIO()
    call_command("scim_client", "list", stdout=listing)
    assert "Entra ID" in listing.getvalue()


def test_group_roles_setting_is_read_strictly() -> None:
    assert scim_group_roles("") == {}
    assert scim_group_roles('{"AI Governance": "governance-lead", "ai governance ": ["auditor"]}') == {
        "ai governance": ("auditor", "governance-lead")}
    for bad in ("not json", "[1]", '{"x": 5}', '{"": "auditor"}', '{"x": ["auditor", 3]}'):
        with pytest.raises(ImproperlyConfigured, match="SCIM_GROUP_ROLES"):
            scim_group_roles(bad)


def test_an_unknown_role_stops_the_app_at_start(settings: Any) -> None:
    settings.SCIM_GROUP_ROLES = {"admins": ("superhero",)}
    with pytest.raises(ImproperlyConfigured, match="superhero"):
        apps.get_app_config("provisioning").ready()
    settings.SCIM_GROUP_ROLES = {"admins": ("admin",)}
    apps.get_app_config("provisioning").ready()


@pytest.mark.django_db
def test_scim_is_not_in_the_openapi(client: Any, personas: Any) -> None:
    """The SCIM endpoints are plain Django views answering RFC 7644's own schemas (served at
    /scim/v2/Schemas), so the API's OpenAPI does not describe them."""
    client.force_login(personas["lead"])
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    assert paths and not [p for p in paths if p.startswith("/scim")]
