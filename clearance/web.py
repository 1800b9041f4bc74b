"""Helpers the views of every app share: object access, service calls, pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django_htmx.middleware import HtmxDetails

from clearance.errors import LABELLED, DomainError, NotAllowed

M = TypeVar("M", bound=Model)


class AuthenticatedHttpRequest(HttpRequest):
    """The request a view behind ``@login_required`` receives: its user is signed in, never anonymous.

    A type for the checker only. The decorator is what makes it true, so only a view that carries
    ``@login_required`` (and the helpers such views call) may take it; the permission matrix test's
    anonymous persona checks that every such page sends a signed-out visitor to the login page."""

    user: User
    # Set on every request by django_htmx's middleware (installed for the whole site).
    htmx: HtmxDetails


def get_visible_or_404(queryset: QuerySet[M], **lookup: Any) -> M:
    """One answer, 404, for both 'does not exist' and 'you may not see it'."""
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise Http404("not found")
    return obj


def run_service(request: HttpRequest, form: forms.BaseForm | None, call: Callable[[], Any], success: str,
                labels: dict[str, str] | None = None) -> Any:
    """Call a service; put domain errors on the form (by field) or in messages. Returns the result or None.
    A message that lands outside its field names the field by its label: the form's, else ``labels``'s
    (for inputs a page renders without a form), else the internal name in words."""
    try:
        result = call()
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        _attach(request, form, exc.field, exc.message, labels=labels)
        return None
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                for error in errors:
                    for message in error.messages:
                        _attach(request, form, field, message, labelled=error.code == LABELLED, labels=labels)
        else:
            for text in exc.messages:
                _attach(request, form, None, text)
        return None
    messages.success(request, success)
    return result


def _label(form: forms.BaseForm | None, field: str, labels: dict[str, str] | None) -> str:
    known = getattr(form, "fields", {}).get(field) if form is not None else None
    if known is not None and known.label:
        return str(known.label)
    if labels and field in labels:
        return labels[field]
    words = field.replace("_", " ")
    return words[:1].upper() + words[1:]


def _attach(request: HttpRequest, form: forms.BaseForm | None, field: str | None, message: str,
            labelled: bool = False, labels: dict[str, str] | None = None) -> None:
    text = f"{_label(form, field, labels)}: {message}" if field and not labelled else message
    if form is not None and field in getattr(form, "fields", {}):
        # A message that already names its field keeps its code, so the page shows the label once
        # (clearance_tags.field_errors) while form.errors still holds the whole message.
        form.add_error(field, ValidationError(message, code=LABELLED) if labelled else message)
    elif form is not None and hasattr(form, "cleaned_data"):
        form.add_error(None, text)
    else:
        messages.error(request, text)


def spreadsheet_cell(value: str) -> str:
    """A spreadsheet must not read a cell as a formula (CSV injection): such text gets a leading quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def paginate(request: HttpRequest, queryset: Any, per_page: int = 25) -> Page[Any]:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
