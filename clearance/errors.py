"""Domain errors raised by services; views turn them into messages and the API into status codes."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was written."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(DomainError):
    """The object is not in a state that allows this move (someone else may have moved it first)."""

    status_code = 409
    code = "invalid_transition"


class NotAllowed(DomainError):
    """The actor may see the object but may not do this to it."""

    status_code = 403
    code = "permission_denied"


# The code of a ValidationError whose message already names its field by label ("Business problem:
# …"); views show it as it is instead of prefixing the field's internal name.
LABELLED = "labelled"


def labelled_error(problems: dict[str, list[str]]) -> Any:
    """A ValidationError by field whose messages each name their field by label."""
    from django.core.exceptions import ValidationError

    return ValidationError({name: [ValidationError(m, code=LABELLED) for m in messages]
                            for name, messages in problems.items()})
