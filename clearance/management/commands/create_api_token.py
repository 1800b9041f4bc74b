"""``manage.py create_api_token --user NAME --scopes gate:check``: prints the token once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from clearance.errors import DomainError
from clearance.tokens import Scope, api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user; the token is printed once and stored only as a digest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username the token acts as")
        parser.add_argument("--scopes", required=True, help=f"comma-separated: {', '.join(Scope.ALL)}")
        parser.add_argument("--name", default="", help="what the token is for (default: 'cli token')")
        parser.add_argument("--expires-days", type=int, default=None, help="days until it expires (default: never)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"--user: no user named {options['user']!r}")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        expires = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1")
            expires = timezone.now() + timedelta(days=options["expires_days"])
        try:
            issued = api_token_create(user=user, name=options["name"] or "cli token", scopes=scopes, expires_at=expires)
        except DomainError as exc:
            raise CommandError(f"--{exc.field or 'scopes'}: {exc.message}") from exc
        self.stderr.write(f"Token for {user.get_username()} with scopes {', '.join(issued.token.scopes)}; shown once:")
        self.stdout.write(issued.plaintext)
