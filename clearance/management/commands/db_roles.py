"""``manage.py db_roles``: the runtime PostgreSQL role's GRANTs, generated from the models.

``--print`` (the default) writes the SQL to run as the owner role; ``--apply`` runs it (connected as
the owner); ``--check`` exits 1 when the runtime role is a superuser, a member of another role or
owns anything. The role is ``--role`` or DB_RUNTIME_ROLE.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from clearance import dbroles


class Command(BaseCommand):
    help = "Print, apply or check the runtime database role's privileges (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default=settings.DB_RUNTIME_ROLE or "",
                            help="the runtime role (default: DB_RUNTIME_ROLE)")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--print", action="store_true", help="print the SQL (the default)")
        action.add_argument("--apply", action="store_true", help="run the GRANTs now, as the owner role")
        action.add_argument("--check", action="store_true", help="fail if the role owns anything or has rights beyond its grants")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        if not role:
            raise CommandError("name the runtime role: --role NAME or DB_RUNTIME_ROLE")
        if not dbroles.ROLE_RE.match(role):
            raise CommandError(f"--role {role!r}: use lower-case letters, digits and '_'")
        if options["apply"] or options["check"]:
            if connection.vendor != "postgresql":
                raise CommandError("database roles exist on PostgreSQL only (DATABASE_URL is not postgres://)")
        if options["apply"]:
            count = dbroles.apply_grants(role)
            self.stdout.write(self.style.SUCCESS(f"{count} statements applied for role {role}"))
        elif options["check"]:
            problems = dbroles.ownership_problems(role)
            if problems:
                raise CommandError("; ".join(problems))
            self.stdout.write(self.style.SUCCESS(f"role {role} owns nothing and has no special rights"))
        else:
            self.stdout.write(dbroles.script(role), ending="")
