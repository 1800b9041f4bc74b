"""Link an existing Clearance account to an account at the identity provider (docs/sso.md).

Single sign-on never links by username or email by itself (that would let an IdP account with the
same name take the Clearance account over); an administrator does it here, on purpose, audited.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearance.sso.services import SsoRefused, sso_identity_link


class Command(BaseCommand):
    help = "Link a Clearance user to an identity provider subject, so their SSO sign-in is that user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("subject", help="the IdP's 'sub' claim for this person")
        parser.add_argument("--issuer", default="", help="default: OIDC_ISSUER")
        parser.add_argument("--by", default="", help="the administrator's username, for the audit trail")

    def handle(self, *args: Any, **options: Any) -> None:
        issuer = options["issuer"] or settings.OIDC_ISSUER
        if not issuer:
            raise CommandError("no issuer: pass --issuer or set OIDC_ISSUER")
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        actor = User.objects.filter(username=options["by"]).first() if options["by"] else None
        try:
            sso_identity_link(actor=actor, user=user, issuer=issuer, subject=options["subject"])
        except SsoRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{user.get_username()} now signs in as subject {options['subject']!r} at {issuer}")
