"""SCIM resources <-> Clearance: django-scim2's adapters, fitted to the default ``auth.User`` with its
``ProvisionedUser`` profile and to ``ScimGroup``.

Reading a body never writes: it yields a ``UserData`` or ``GroupData`` (provisioning.services), and a
PATCH is applied to the current values in memory first, so a bad operation anywhere in the list
leaves the resource untouched. Both PATCH shapes identity providers send are read: Okta's and
Entra's operation without a path whose value holds the attributes
(``{"op": "replace", "value": {"active": false}}``), and the RFC's operation with a path
(``{"op": "Replace", "path": "active", "value": "False"}``, Entra sending booleans as strings)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.urls import reverse
from django_scim.adapters import SCIMGroup, SCIMUser
from django_scim.constants import SchemaURI

from provisioning.models import ScimGroup
from provisioning.scim.errors import ScimError, bad_request
from provisioning.services import GroupData, UserData

CORE_USER = SchemaURI.USER.lower()
CORE_GROUP = SchemaURI.GROUP.lower()
ENTERPRISE = SchemaURI.ENTERPRISE_USER.lower()

# User attributes of the core schema (and the enterprise extension) that Clearance does not keep: an
# IdP's default mappings send them, so they are accepted and ignored rather than failing a sync.
IGNORED_USER_ATTRS = {
    "nickname", "profileurl", "title", "usertype", "preferredlanguage", "locale", "timezone", "phonenumbers",
    "ims", "photos", "addresses", "entitlements", "roles", "x509certificates", "password",
}
READ_ONLY = {"id", "meta", "schemas"}
_PATH = re.compile(r"^(?P<attr>[A-Za-z][\w$-]*)(?:\[(?P<filter>[^\]]*)\])?(?:\.(?P<sub>[A-Za-z][\w$-]*))?$")
_MEMBER_VALUE = re.compile(r'^\s*value\s+eq\s+"([^"]*)"\s*$', re.IGNORECASE)


def base_url(request: HttpRequest | None) -> str:
    from provisioning.scim.discovery import base_location

    return base_location(request)


def resource_url(request: HttpRequest | None, kind: str, ident: str) -> str:
    """The absolute URL of a user or group. The two prefixes are reversed once per request: a list
    of 200 users with their groups would otherwise reverse a URL several hundred times."""
    prefixes: dict[str, str] | None = getattr(request, "_scim_prefixes", None)
    if prefixes is None:
        base = base_url(request)
        prefixes = {"user": base + reverse("scim-users"), "group": base + reverse("scim-groups")}
        if request is not None:
            request._scim_prefixes = prefixes  # type: ignore[attr-defined]  # a per-request cache
    return f"{prefixes[kind]}/{ident}"


def _text(label: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"{label}: must be a string, got {type(value).__name__}")
    if not storable(value):
        raise bad_request(f"{label}: contains a NUL or an unpaired surrogate, which cannot be stored")
    return value


def storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor a lone surrogate (JSON can spell both)."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


def _boolean(label: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # Entra ID sends "True"/"False" as strings in PATCH operations.
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"{label}: must be true or false, got {value!r}"[:200])


def _primary_email(value: Any) -> str:
    """The one address Clearance keeps: the primary one, else the first."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad_request("emails: must be a list of {\"value\": \"…\"} objects")
    chosen = next((item for item in value if item.get("primary") is True), value[0] if value else None)
    return _text("emails.value", chosen.get("value")) if chosen else ""


def split_path(path: str, core: str) -> tuple[str, str | None, str | None] | None:
    """``(attribute, value filter, sub-attribute)`` of a PATCH path, lower-cased, with the core schema
    URN taken off; None for an extension attribute (ignored)."""
    low = path.lower()
    if low == ENTERPRISE or low.startswith(ENTERPRISE + ":"):
        return None
    if low.startswith(core + ":"):
        path = path[len(core) + 1:]
    elif low.startswith("urn:"):
        raise ScimError(400, f"path: unknown schema in {path[:100]!r}", "invalidPath")
    match = _PATH.match(path.strip())
    if not match:
        raise ScimError(400, f"path: {path[:100]!r} is not an attribute path", "invalidPath")
    sub = match["sub"].lower() if match["sub"] else None
    return match["attr"].lower(), match["filter"], sub


def _operations(body: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise bad_request("Operations: a PATCH needs a non-empty list of operations")
    out = []
    for index, op in enumerate(operations):
        if not isinstance(op, dict):
            raise bad_request(f"Operations[{index}]: must be an object")
        name = op.get("op")
        if not isinstance(name, str) or name.lower() not in ("add", "remove", "replace"):
            raise bad_request(f"Operations[{index}].op: must be add, remove or replace")
        path = op.get("path")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, f"Operations[{index}].path: must be a string", "invalidPath")
        if not path and name.lower() != "remove" and not isinstance(op.get("value"), dict):
            raise bad_request(f"Operations[{index}].value: without a path the value must be an object")
        if not path and name.lower() == "remove":
            raise ScimError(400, f"Operations[{index}].path: a remove needs a path", "noTarget")
        out.append((name.lower(), path or None, op.get("value")))
    return out


class ScimUserAdapter(SCIMUser):  # type: ignore[misc]  # django-scim2 ships no types
    id_field = "pk"
    resource_type = "User"

    def __init__(self, obj: User, request: HttpRequest | None = None) -> None:
        super().__init__(obj, request=request)

    @property
    def location(self) -> str:
        return resource_url(self._request, "user", str(self.obj.pk))

    @property
    def display_name(self) -> str:
        profile = getattr(self.obj, "provisioning", None)
        if profile is not None and profile.display_name:
            return str(profile.display_name)
        full = f"{self.obj.first_name} {self.obj.last_name}".strip()
        return full or str(self.obj.username)

    def to_dict(self) -> dict[str, Any]:
        user: User = self.obj
        profile = getattr(user, "provisioning", None)
        groups = [{"value": str(g.scim_id), "$ref": resource_url(self._request, "group", str(g.scim_id)),
                   "display": g.display_name, "type": "direct"} for g in user.scim_groups.all()]
        doc: dict[str, Any] = {
            "schemas": [SchemaURI.USER],
            "id": str(user.pk),
            "userName": user.username,
            "name": {"givenName": user.first_name, "familyName": user.last_name,
                     "formatted": f"{user.first_name} {user.last_name}".strip()},
            "displayName": self.display_name,
            "emails": [{"value": user.email, "primary": True, "type": "work"}] if user.email else [],
            "active": user.is_active,
            "groups": groups,
            "meta": {"resourceType": "User", "created": user.date_joined.isoformat(),
                     "lastModified": (profile.updated_at if profile else user.date_joined).isoformat(),
                     "location": self.location},
        }
        if profile is not None and profile.external_id:
            doc["externalId"] = profile.external_id
        return doc

    @classmethod
    def resource_type_dict(cls, request: HttpRequest | None = None) -> dict[str, Any]:
        return {
            "schemas": [SchemaURI.RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": reverse("scim-users"),
            "description": "People who use Clearance", "schema": SchemaURI.USER,
            "schemaExtensions": [{"schema": SchemaURI.ENTERPRISE_USER, "required": False}],
            "meta": {"resourceType": "ResourceType",
                     "location": base_url(request) + reverse("scim-resource-type", kwargs={"uuid": "User"})},
        }


def user_from_body(body: dict[str, Any], current: UserData | None) -> UserData:
    """A POST or PUT body as a UserData; on a PUT without ``active`` the user stays as they are."""
    name = body.get("name")
    if name is not None and not isinstance(name, dict):
        raise bad_request("name: must be an object with givenName and familyName")
    name = name or {}
    active = body.get("active")
    return UserData(
        user_name=_text("userName", body.get("userName")),
        given_name=_text("name.givenName", name.get("givenName")),
        family_name=_text("name.familyName", name.get("familyName")),
        display_name=_text("displayName", body.get("displayName")),
        email=_primary_email(body.get("emails")),
        active=(current.active if current else True) if active is None else _boolean("active", active),
        external_id=_text("externalId", body.get("externalId")),
    )


def _user_attr(data: UserData, op: str, attr: str, sub: str | None, value: Any) -> UserData:
    removing = op == "remove"
    if attr in IGNORED_USER_ATTRS or attr in ("schemas", "meta", "id"):
        return data
    if attr == "active":
        if removing:
            raise ScimError(400, "active: cannot be removed; set it to false", "mutability")
        return replace(data, active=_boolean("active", value))
    if attr == "username":
        if removing:
            raise ScimError(400, "userName: required, cannot be removed", "mutability")
        return replace(data, user_name=_text("userName", value))
    if attr == "displayname":
        return replace(data, display_name="" if removing else _text("displayName", value))
    if attr == "externalid":
        return replace(data, external_id="" if removing else _text("externalId", value))
    if attr == "name":
        if sub in ("givenname", "familyname"):
            text = "" if removing else _text(f"name.{sub}", value)
            return replace(data, given_name=text) if sub == "givenname" else replace(data, family_name=text)
        if sub == "formatted":
            return data
        if sub is not None:
            raise ScimError(400, f"path: name has no sub-attribute {sub!r}", "invalidPath")
        if removing:
            return replace(data, given_name="", family_name="")
        if not isinstance(value, dict):
            raise bad_request("name: must be an object with givenName and familyName")
        for key, item in value.items():
            data = _user_attr(data, op, "name", str(key).lower(), item)
        return data
    if attr == "emails":
        if removing:
            return replace(data, email="")
        if sub == "value":
            return replace(data, email=_text("emails.value", value))
        if sub in ("type", "primary", "display"):
            return data
        if sub is not None:
            raise ScimError(400, f"path: emails has no sub-attribute {sub!r}", "invalidPath")
        return replace(data, email=_primary_email(value))
    if attr == "groups":
        raise ScimError(400, "groups: read-only on a user; change membership through /Groups", "mutability")
    raise ScimError(400, f"path: the User schema has no attribute {attr!r}"[:200], "invalidPath")


def user_apply_patch(data: UserData, body: dict[str, Any]) -> UserData:
    for op, path, value in _operations(body):
        if path is None:
            for key, item in value.items():
                if not isinstance(key, str):
                    raise bad_request("value: attribute names must be strings")
                parts = split_path(key, CORE_USER)
                if parts is not None:
                    data = _user_attr(data, op, parts[0], parts[2], item)
            continue
        parts = split_path(path, CORE_USER)
        if parts is not None:
            data = _user_attr(data, op, parts[0], parts[2], value)
    return data


class ScimGroupAdapter(SCIMGroup):  # type: ignore[misc]  # django-scim2 ships no types
    id_field = "scim_id"
    resource_type = "Group"

    def __init__(self, obj: ScimGroup, request: HttpRequest | None = None, *, with_members: bool = True) -> None:
        super().__init__(obj, request=request)
        self.with_members = with_members

    @property
    def location(self) -> str:
        return resource_url(self._request, "group", str(self.obj.scim_id))

    def to_dict(self) -> dict[str, Any]:
        group: ScimGroup = self.obj
        doc: dict[str, Any] = {
            "schemas": [SchemaURI.GROUP],
            "id": str(group.scim_id),
            "displayName": group.display_name,
            "meta": {"resourceType": "Group", "created": group.created_at.isoformat(),
                     "lastModified": group.updated_at.isoformat(), "location": self.location},
        }
        if self.with_members:
            doc["members"] = [{"value": str(u.pk), "display": u.username, "type": "User",
                               "$ref": resource_url(self._request, "user", str(u.pk))}
                              for u in group.members.all()]
        if group.external_id:
            doc["externalId"] = group.external_id
        return doc

    @classmethod
    def resource_type_dict(cls, request: HttpRequest | None = None) -> dict[str, Any]:
        return {
            "schemas": [SchemaURI.RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": reverse("scim-groups"),
            "description": "Groups kept by the identity provider; some grant Clearance roles",
            "schema": SchemaURI.GROUP,
            "meta": {"resourceType": "ResourceType",
                     "location": base_url(request) + reverse("scim-resource-type", kwargs={"uuid": "Group"})},
        }


def _member_ids(value: Any) -> set[int]:
    """User ids from ``[{"value": "12"}, …]`` (a single object is taken as a list of one)."""
    if value is None:
        return set()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise bad_request("members: must be a list of {\"value\": \"<user id>\"} objects")
    ids = set()
    for item in value:
        raw = item.get("value") if isinstance(item, dict) else None
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise bad_request("members: each member needs a \"value\" holding a user id")
        text = str(raw).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise bad_request(f"members: no user with id {text[:40]!r}")
        ids.add(int(text))
    return ids


def group_from_body(body: dict[str, Any]) -> GroupData:
    return GroupData(display_name=_text("displayName", body.get("displayName")),
                     external_id=_text("externalId", body.get("externalId")),
                     members=frozenset(_member_ids(body.get("members"))))


def _filtered_members(text: str) -> set[int]:
    """``members[value eq "12"]`` (or several joined by ``or``): the ids it names."""
    ids = set()
    for clause in re.split(r"\s+or\s+", text, flags=re.IGNORECASE):
        match = _MEMBER_VALUE.match(clause)
        if not match:
            raise ScimError(400, "path: a members filter must be 'value eq \"<user id>\"'", "invalidFilter")
        ids |= _member_ids([{"value": match[1]}])
    return ids


def _group_attr(data: GroupData, op: str, attr: str, flt: str | None, value: Any) -> GroupData:
    if attr in READ_ONLY:
        return data
    if attr == "displayname":
        if op == "remove":
            raise ScimError(400, "displayName: required, cannot be removed", "mutability")
        return replace(data, display_name=_text("displayName", value))
    if attr == "externalid":
        return replace(data, external_id="" if op == "remove" else _text("externalId", value))
    if attr == "members":
        if flt is not None:
            if op != "remove":
                raise ScimError(400, "path: a members filter can only be removed", "invalidPath")
            return replace(data, members=data.members - _filtered_members(flt))
        if op == "add":
            return replace(data, members=data.members | _member_ids(value))
        if op == "remove":
            # Without a value every member goes; with one, those it names.
            gone = _member_ids(value) if value is not None else set(data.members)
            return replace(data, members=data.members - gone)
        return replace(data, members=frozenset(_member_ids(value)))
    raise ScimError(400, f"path: the Group schema has no attribute {attr!r}"[:200], "invalidPath")


def group_apply_patch(data: GroupData, body: dict[str, Any]) -> GroupData:
    for op, path, value in _operations(body):
        if path is None:
            for key, item in value.items():
                if not isinstance(key, str):
                    raise bad_request("value: attribute names must be strings")
                parts = split_path(key, CORE_GROUP)
                if parts is not None:
                    data = _group_attr(data, op, parts[0], parts[1], item)
            continue
        parts = split_path(path, CORE_GROUP)
        if parts is None:
            raise ScimError(400, f"path: groups have no extension attribute {path[:100]!r}", "invalidPath")
        if parts[2] is not None and not (parts[0] == "members" and parts[2] == "value"):
            raise ScimError(400, f"path: {path[:100]!r} is not a Group attribute we can change", "invalidPath")
        data = _group_attr(data, op, parts[0], parts[1], value)
    return data
