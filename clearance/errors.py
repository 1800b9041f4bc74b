"""Domain errors raised by services; views turn them into messages and the API into status codes."""

from __future__ import annotations


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
