"""Every write an identity provider makes over SCIM: keyword-only, atomic, audited with the IdP's
service user as the actor. The SCIM views (provisioning/scim/) turn a request into one call here.

Validation happens before anything is written; a ``ScimInvalid`` or ``ScimConflict`` leaves the
database as it was."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalog.models import AISystem
from catalog.services.systems import readiness_changed
from clearance.audit import audit_record
from clearance.errors import DomainError
from clearance.tokens import IssuedToken, Scope, api_token_create, gate_token_cache
from provisioning.models import ProvisionedUser, ProvisioningClient, ScimGroup


class ScimInvalid(DomainError):
    """A value the SCIM schema or Clearance cannot take (SCIM ``invalidValue``)."""

    scim_type = "invalidValue"


class ScimConflict(DomainError):
    """A userName or group displayName already taken (SCIM ``uniqueness``, HTTP 409)."""

    status_code = 409
    scim_type = "uniqueness"


@dataclass(frozen=True)
class UserData:
    """A user as SCIM describes it, in the fields Clearance keeps."""

    user_name: str
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""
    email: str = ""
    active: bool = True
    external_id: str = ""


@dataclass(frozen=True)
class GroupData:
    display_name: str
    external_id: str = ""
    members: frozenset[int] = frozenset()


def user_data_of(user: User) -> UserData:
    """The SCIM view of a stored user (the starting point of a PATCH)."""
    profile = getattr(user, "provisioning", None)
    return UserData(user_name=user.username, given_name=user.first_name, family_name=user.last_name,
                    display_name=profile.display_name if profile else "", email=user.email,
                    active=user.is_active, external_id=profile.external_id if profile else "")


def _check_length(label: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ScimInvalid(f"{label}: at most {limit} characters, got {len(value)}", field=label)


def _validate_user(data: UserData, *, current: User | None) -> UserData:
    user_name = data.user_name.strip()
    if not user_name:
        raise ScimInvalid("userName: required, and not blank", field="userName")
    _check_length("userName", user_name, 150)
    try:
        User._meta.get_field("username").run_validators(user_name)
    except ValidationError as exc:
        raise ScimInvalid(f"userName: {' '.join(exc.messages)}", field="userName") from exc
    _check_length("name.givenName", data.given_name, 150)
    _check_length("name.familyName", data.family_name, 150)
    _check_length("displayName", data.display_name, 300)
    _check_length("externalId", data.external_id, 300)
    email = data.email.strip()
    if email:
        _check_length("emails", email, 254)
        try:
            EmailValidator()(email)
        except ValidationError as exc:
            raise ScimInvalid(f"emails: {email!r} is not an email address", field="emails") from exc
    taken = User.objects.filter(username__iexact=user_name)
    if current is not None:
        taken = taken.exclude(pk=current.pk)
    if taken.exists():
        # A user SCIM deleted keeps its account (and so its name) for the audit trail.
        raise ScimConflict(f"userName: {user_name!r} is already taken by another account", field="userName")
    return replace(data, user_name=user_name, email=email)


def _profile(user: User) -> ProvisionedUser:
    profile, _ = ProvisionedUser.objects.get_or_create(user=user)
    return profile


def _owner_systems_changed(user: User, reason: str) -> None:
    """An owner's activity is a fact the readiness policy and the gate read."""
    owned = AISystem.objects.filter(Q(business_owner=user) | Q(technical_owner=user) | Q(risk_owner=user))
    for system in owned:
        readiness_changed(system=system, reason=reason)


def _activity_changed(user: User, active: bool) -> None:
    _owner_systems_changed(user, "owner reactivated by SCIM" if active else "owner deactivated by SCIM")
    if not active:
        # This process's gate token cache forgets the user's tokens now (other processes within
        # GATE_TOKEN_CACHE_SECONDS); every other token check reads is_active from the database.
        transaction.on_commit(gate_token_cache.clear)


def scim_user_create(*, client: ProvisioningClient, data: UserData) -> User:
    with transaction.atomic():
        data = _validate_user(data, current=None)
        user = User(username=data.user_name, first_name=data.given_name, last_name=data.family_name,
                    email=data.email, is_active=data.active)
        # People provisioned by an IdP sign in through it; no local password is ever set from SCIM.
        user.set_unusable_password()
        user.save()
        ProvisionedUser.objects.create(user=user, external_id=data.external_id, display_name=data.display_name,
                                       provisioned_by=client)
        audit_record(actor=client.user, action="scim.user_created", obj=user,
                     data={"client": client.name, **asdict(data)})
    return user


def scim_user_update(*, client: ProvisioningClient, user_id: int, data: UserData) -> User:
    """Replace what SCIM keeps of a user (a PUT, or a PATCH applied to the current values)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        before = user_data_of(user)
        data = _validate_user(data, current=user)
        changed = {name: {"from": old, "to": new}
                   for (name, old), new in zip(asdict(before).items(), asdict(data).values(), strict=True)
                   if old != new}
        if not changed:
            return user
        user.username, user.first_name, user.last_name = data.user_name, data.given_name, data.family_name
        user.email, user.is_active = data.email, data.active
        user.save(update_fields=["username", "first_name", "last_name", "email", "is_active"])
        profile = _profile(user)
        profile.external_id, profile.display_name = data.external_id, data.display_name
        profile.save(update_fields=["external_id", "display_name", "updated_at"])
        if before.active != data.active:
            _activity_changed(user, data.active)
            action = "scim.user_reactivated" if data.active else "scim.user_deactivated"
        else:
            action = "scim.user_updated"
        audit_record(actor=client.user, action=action, obj=user, data={"client": client.name, "changed": changed})
    return user


def scim_user_delete(*, client: ProvisioningClient, user_id: int) -> None:
    """SCIM DELETE: the account is deactivated, leaves its SCIM groups (and the roles they granted)
    and is hidden from SCIM; it stays in the database so the audit trail and the ownership history
    keep naming the person."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        was_active = user.is_active
        if was_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
            _activity_changed(user, False)
        groups = list(user.scim_groups.values_list("display_name", flat=True))
        user.scim_groups.clear()
        profile = _profile(user)
        profile.deleted_at = timezone.now()
        profile.save(update_fields=["deleted_at", "updated_at"])
        audit_record(actor=client.user, action="scim.user_deleted", obj=user,
                     data={"client": client.name, "was_active": was_active, "left_groups": sorted(groups)})
        roles_sync(client=client, user_ids=[user.pk])


# --- groups --------------------------------------------------------------------------------------

def _validate_group(data: GroupData, *, current: ScimGroup | None) -> GroupData:
    name = data.display_name.strip()
    if not name:
        raise ScimInvalid("displayName: required, and not blank", field="displayName")
    _check_length("displayName", name, 200)
    _check_length("externalId", data.external_id, 300)
    taken = ScimGroup.objects.filter(display_name__iexact=name)
    if current is not None:
        taken = taken.exclude(pk=current.pk)
    if taken.exists():
        raise ScimConflict(f"displayName: a group named {name!r} already exists", field="displayName")
    known = set(scim_visible_users().filter(pk__in=data.members).values_list("pk", flat=True))
    unknown = sorted(data.members - known)
    if unknown:
        raise ScimInvalid(f"members: no user with id {', '.join(map(str, unknown[:10]))}", field="members")
    return replace(data, display_name=name)


def scim_visible_users() -> QuerySet[User]:
    """The users SCIM may see and change: not an IdP's own service user, not one SCIM deleted."""
    return User.objects.filter(provisioning_client__isnull=True, provisioning__deleted_at__isnull=True)


def _usernames(ids: Iterable[int]) -> list[str]:
    return sorted(User.objects.filter(pk__in=list(ids)).values_list("username", flat=True))


def scim_group_create(*, client: ProvisioningClient, data: GroupData) -> ScimGroup:
    with transaction.atomic():
        data = _validate_group(data, current=None)
        group = ScimGroup.objects.create(display_name=data.display_name, external_id=data.external_id,
                                         created_by=client)
        group.members.set(list(data.members))
        audit_record(actor=client.user, action="scim.group_created", obj=group,
                     data={"client": client.name, "display_name": data.display_name,
                           "external_id": data.external_id, "members": _usernames(data.members),
                           "roles": list(group_roles(data.display_name))})
        roles_sync(client=client, user_ids=data.members)
    return group


def scim_group_update(*, client: ProvisioningClient, group_id: int, data: GroupData) -> ScimGroup:
    """Replace a group's name, externalId and members (a PUT, or a PATCH applied to the current ones)."""
    with transaction.atomic():
        group = ScimGroup.objects.select_for_update().get(pk=group_id)
        data = _validate_group(data, current=group)
        members = set(group.members.values_list("pk", flat=True))
        added, removed = data.members - members, members - data.members
        renamed = group.display_name != data.display_name
        if not (added or removed or renamed or group.external_id != data.external_id):
            return group
        changes: dict[str, Any] = {"client": client.name}
        if renamed:
            changes["display_name"] = {"from": group.display_name, "to": data.display_name}
        if group.external_id != data.external_id:
            changes["external_id"] = {"from": group.external_id, "to": data.external_id}
        group.display_name, group.external_id = data.display_name, data.external_id
        group.save(update_fields=["display_name", "external_id", "updated_at"])
        if added:
            group.members.add(*added)
            changes["added"] = _usernames(added)
        if removed:
            group.members.remove(*removed)
            changes["removed"] = _usernames(removed)
        audit_record(actor=client.user, action="scim.group_updated", obj=group, data=changes)
        # A rename can change which roles the group grants: every member is looked at again.
        roles_sync(client=client, user_ids=(data.members | removed) if renamed else (added | removed))
    return group


def scim_group_delete(*, client: ProvisioningClient, group_id: int) -> None:
    with transaction.atomic():
        group = ScimGroup.objects.select_for_update().get(pk=group_id)
        members = set(group.members.values_list("pk", flat=True))
        audit_record(actor=client.user, action="scim.group_deleted", obj=group,
                     data={"client": client.name, "display_name": group.display_name,
                           "members": _usernames(members)})
        group.delete()
        roles_sync(client=client, user_ids=members)


# --- roles ---------------------------------------------------------------------------------------

def group_roles(display_name: str) -> tuple[str, ...]:
    """The roles a SCIM group of this name grants (none unless SCIM_GROUP_ROLES names it)."""
    mapping: dict[str, tuple[str, ...]] = settings.SCIM_GROUP_ROLES
    return mapping.get(display_name.strip().lower(), ())


def roles_sync(*, client: ProvisioningClient, user_ids: Iterable[int]) -> None:
    """Bring each user's roles in line with their SCIM groups: grant the mapped roles they lack, take
    away those SCIM granted earlier and no group grants now. A role given by hand is never taken."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    with transaction.atomic():
        users = (User.objects.filter(pk__in=ids).select_for_update(of=("self",))
                 .prefetch_related("groups", "scim_groups").select_related("provisioning"))
        role_groups = {g.name: g for g in Group.objects.all()}
        for user in users:
            wanted = {role for group in user.scim_groups.all() for role in group_roles(group.display_name)}
            held = {g.name for g in user.groups.all()}
            profile = getattr(user, "provisioning", None) or _profile(user)
            granted = set(profile.granted_roles)
            to_add = sorted(r for r in wanted - held if r in role_groups)
            to_remove = sorted((granted - wanted) & held)
            new_granted = sorted((granted & wanted) | set(to_add))
            if to_add:
                user.groups.add(*[role_groups[r] for r in to_add])
            if to_remove:
                user.groups.remove(*[role_groups[r] for r in to_remove])
            if new_granted != sorted(granted):
                profile.granted_roles = new_granted
                profile.save(update_fields=["granted_roles", "updated_at"])
            if to_add or to_remove:
                audit_record(actor=client.user, action="scim.roles_changed", obj=user,
                             data={"client": client.name, "added": to_add, "removed": to_remove})
                transaction.on_commit(gate_token_cache.clear)


# --- clients -------------------------------------------------------------------------------------

def provisioning_client_create(*, name: str, actor: User | None = None) -> tuple[ProvisioningClient, IssuedToken]:
    """An identity provider allowed to provision, with its service user and its token (shown once)."""
    name = name.strip()
    if not name:
        raise DomainError("a provisioning client needs a name", field="name")
    if len(name) > 60:
        raise DomainError("the name may have at most 60 characters", field="name")
    with transaction.atomic():
        if ProvisioningClient.objects.filter(name__iexact=name).exists():
            raise DomainError(f"a provisioning client named {name!r} exists; issue it a new token instead",
                              field="name")
        username = f"scim-{secrets.token_hex(4)}"
        service_user = User(username=username, first_name=name, last_name="(SCIM)", is_active=True)
        service_user.set_unusable_password()
        service_user.save()
        client = ProvisioningClient.objects.create(name=name, user=service_user)
        audit_record(actor=actor or service_user, action="scim.client_created", obj=client,
                     data={"name": name, "service_user": username})
        issued = provisioning_token_issue(client=client, actor=actor)
    return client, issued


def provisioning_token_issue(*, client: ProvisioningClient, actor: User | None = None) -> IssuedToken:
    """A new SCIM token for the client (its earlier ones stay valid until revoked on the tokens page)."""
    return api_token_create(user=client.user, name=f"SCIM provisioning: {client.name}", scopes=[Scope.SCIM],
                            actor=actor or client.user, service=True)
