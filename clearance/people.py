"""How a person is named to other people: their full name, else their username (pages, notifications,
emails and PDFs alike). Audit records keep usernames: they identify, they do not address."""

from __future__ import annotations

from typing import Any


def name_of(user: Any) -> str:
    if user is None:
        return "—"
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return str(full or getattr(user, "username", user))
