"""Writes to the dataset and vendor registers: validated, atomic, audited."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Dataset, Vendor
from catalog.permissions import can_edit_register
from clearance.audit import audit_record
from clearance.errors import DomainError, NotAllowed

DATASET_FIELDS = ("name", "description", "source", "owner", "classification", "personal_data", "personal_data_notes",
                  "collection_method", "known_biases", "retention", "review_due")
VENDOR_FIELDS = ("name", "website", "terms_reviewed_on", "dpa_status", "data_residency", "models_offered", "notes",
                 "owner", "review_due")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "pk"):
        return value.pk
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


Register = TypeVar("Register", Dataset, Vendor)


def _save(*, actor: User, model: type[Register], instance: Register | None, allowed: tuple[str, ...],
          fields: dict[str, Any], systems: Any, label: str) -> Register:
    if not can_edit_register(actor):
        raise NotAllowed(f"only the governance team and system owners maintain {label}s")
    unknown = set(fields) - set(allowed)
    if unknown:
        raise DomainError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "name" in fields:
        fields["name"] = str(fields["name"]).strip()
    with transaction.atomic():
        if instance is None:
            obj = model(**fields)
            before: dict[str, Any] = {}
        else:
            obj = model.objects.select_for_update().get(pk=instance.pk)
            before = {name: _jsonable(getattr(obj, name)) for name in fields}
            for name, value in fields.items():
                setattr(obj, name, value)
        try:
            obj.full_clean(exclude=["systems"])
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise DomainError(messages[0], field=field) from exc
        try:
            obj.save()
        except IntegrityError as exc:
            raise DomainError(f"a {label} named '{obj.name}' already exists", field="name") from exc
        linked_before = sorted(obj.systems.values_list("slug", flat=True)) if instance is not None else []
        if systems is not None:
            obj.systems.set(systems)
        after = {name: _jsonable(getattr(obj, name)) for name in fields}
        changed = {name: {"from": before.get(name), "to": after[name]} for name in fields
                   if before.get(name) != after[name]}
        linked = sorted(obj.systems.values_list("slug", flat=True))
        if linked != linked_before:
            changed["systems"] = {"from": linked_before, "to": linked}
        if changed or instance is None:
            audit_record(actor=actor, action=f"{label}.{'created' if instance is None else 'updated'}", obj=obj,
                         data=changed)
    return obj


def dataset_save(*, actor: User, dataset: Dataset | None = None, systems: Any = None, **fields: Any) -> Dataset:
    if fields.get("personal_data") and not str(fields.get("personal_data_notes", "")).strip():
        raise DomainError("say which personal data the dataset holds", field="personal_data_notes")
    return _save(actor=actor, model=Dataset, instance=dataset, allowed=DATASET_FIELDS, fields=fields,
                 systems=systems, label="dataset")


def vendor_save(*, actor: User, vendor: Vendor | None = None, systems: Any = None, **fields: Any) -> Vendor:
    if "models_offered" in fields:
        offered = fields["models_offered"]
        if isinstance(offered, str):
            offered = [m.strip() for m in offered.replace("\n", ",").split(",")]
        fields["models_offered"] = [m for m in offered if m]
    return _save(actor=actor, model=Vendor, instance=vendor, allowed=VENDOR_FIELDS, fields=fields, systems=systems,
                 label="vendor")
