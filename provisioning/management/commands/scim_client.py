"""``manage.py scim_client create "Okta"`` registers an identity provider and prints its SCIM token
once; ``manage.py scim_client token "Okta"`` issues it a new one (revoke the old one on the tokens
page); ``manage.py scim_client list`` names the clients."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from clearance.errors import DomainError
from provisioning.models import ProvisioningClient
from provisioning.services import provisioning_client_create, provisioning_token_issue


class Command(BaseCommand):
    help = "Register an identity provider for SCIM provisioning, or issue it a token (printed once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "token", "list"])
        parser.add_argument("name", nargs="?", default="", help="the identity provider, e.g. 'Okta' or 'Entra ID'")

    def handle(self, *args: Any, **options: Any) -> None:
        action, name = options["action"], options["name"].strip()
        if action == "list":
            for client in ProvisioningClient.objects.select_related("user"):
                self.stdout.write(f"{client.name}\t(service user {client.user.username})")
            return
        if not name:
            raise CommandError("name: say which identity provider, e.g. scim_client create Okta")
        try:
            if action == "create":
                _, issued = provisioning_client_create(name=name)
            else:
                found = ProvisioningClient.objects.filter(name__iexact=name).first()
                if found is None:
                    raise CommandError(f"name: no provisioning client named {name!r} (see scim_client list)")
                issued = provisioning_token_issue(client=found)
        except DomainError as exc:
            raise CommandError(f"{exc.field or 'name'}: {exc.message}") from exc
        base = settings.SITE_URL + reverse("scim-users").removesuffix("Users")
        self.stderr.write(f"SCIM base URL: {base}\nToken for {name}; shown once, store it in the IdP now:")
        self.stdout.write(issued.plaintext)
