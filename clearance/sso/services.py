"""The writes of single sign-on: a user provisioned or updated from the provider's claims, roles kept
in step with the IdP groups, an existing account linked to an IdP account. Each runs in one
transaction with its audit events.

Decisions (docs/sso.md says them to administrators):

- A person is matched on (issuer, subject) only. On the first sign-in a new user is created with the
  username from OIDC_USERNAME_CLAIM. When a Clearance account of that name already exists and is not
  linked, sign-in is refused: linking by username or email would let whoever controls that name or
  address at the IdP take over the account. An administrator links it on purpose (``sso_link``).
- Email, first and last name follow the IdP at every sign-in; the username never changes.
- Roles named anywhere in OIDC_GROUP_ROLES are managed by the IdP: at every sign-in the user holds
  exactly those of them that their current groups map to, so a group removed at the IdP takes its
  roles away at the next sign-in. Roles the mapping never names are left to Clearance's administrators.
  An unmapped group grants nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clearance.audit import audit_record
from clearance.roles import Role
from clearance.sso.models import SsoIdentity


class SsoRefused(Exception):
    """Sign-in is refused for a reason the person can be told."""


def _text(claims: dict[str, object], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def groups_from(claims: dict[str, object]) -> list[str]:
    """The IdP groups in the configured claim: a list of strings (a single string is one group)."""
    name = settings.OIDC_GROUPS_CLAIM
    names = claims.get("_claim_names")
    if name not in claims and isinstance(names, dict) and name in names:
        # Entra ID's "group overage": too many groups, so the token points elsewhere instead of
        # listing them. Signing in with no groups would silently strip every role: refuse instead.
        raise SsoRefused("the identity provider sent a reference to your groups instead of the groups; "
                         "ask your administrator to limit the groups sent to Clearance")
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def managed_roles() -> set[str]:
    return {role for roles in settings.OIDC_GROUP_ROLES.values() for role in roles}


def roles_sync(*, user: User, groups: Iterable[str], issuer: str) -> tuple[list[str], list[str]]:
    """Give the user exactly the IdP-managed roles their groups map to; returns (added, removed)."""
    mapping = settings.OIDC_GROUP_ROLES
    known = {role.value for role in Role}
    group_list = sorted(set(groups))
    granted = {role for group in group_list for role in mapping.get(group, []) if role in known}
    managed = managed_roles() & known
    with transaction.atomic():
        current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
        added, removed = sorted(granted - current), sorted(current - granted)
        for name in added:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        if removed:
            user.groups.remove(*Group.objects.filter(name__in=removed))
        if added or removed:
            audit_record(actor=None, action="user.roles_synced", obj=user, object_repr=user.get_username(),
                         data={"added": added, "removed": removed, "issuer": issuer,
                               "idp_groups": group_list[:100], "unmapped_groups":
                               [g for g in group_list if g not in mapping][:100]})
    # roles_of caches the roles on the user object for a request; this object may be reused.
    user.__dict__.pop("_clearance_roles", None)
    return added, removed


def _username(claims: dict[str, object]) -> str:
    username = _text(claims, settings.OIDC_USERNAME_CLAIM) or _text(claims, "email")
    if not username:
        raise SsoRefused(f"the identity provider sent no {settings.OIDC_USERNAME_CLAIM} and no email to name "
                         "your Clearance account")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise SsoRefused(f"the username {username!r} from the identity provider is not valid here "
                         "(letters, digits and @ . + - _ only)") from exc
    if len(username) > User._meta.get_field("username").max_length:  # type: ignore[operator] # always set for username
        raise SsoRefused("the username from the identity provider is longer than 150 characters")
    return username


def _profile(claims: dict[str, object]) -> dict[str, str]:
    return {
        "email": _text(claims, "email")[:254],
        "first_name": _text(claims, "given_name")[:150],
        "last_name": _text(claims, "family_name")[:150],
    }


def sso_sign_in(*, issuer: str, claims: dict[str, object]) -> User:
    """The user for verified claims: found by (issuer, sub) and updated, or created; roles synced."""
    try:
        return _sign_in(issuer=issuer, claims=claims)
    except IntegrityError:
        # Two first sign-ins of one person at once (two tabs, a double click): both found no identity
        # and one insert lost to the other's unique constraint. The winner's rows are there now.
        return _sign_in(issuer=issuer, claims=claims)


def _sign_in(*, issuer: str, claims: dict[str, object]) -> User:
    subject = _text(claims, "sub")
    if not subject:
        raise SsoRefused("the identity provider's token has no subject")
    groups = groups_from(claims)
    now = timezone.now()
    with transaction.atomic():
        identity = (SsoIdentity.objects.select_for_update().select_related("user")
                    .filter(issuer=issuer, subject=subject).first())
        if identity is None:
            username = _username(claims)
            if User.objects.filter(username__iexact=username).exists():
                raise SsoRefused(f"a Clearance account named {username!r} already exists and is not linked to "
                                 "this sign-in; an administrator can link it (manage.py sso_link)")
            user = User(username=username, **_profile(claims))
            user.set_unusable_password()
            user.save()
            SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject, created_at=now, last_login_at=now)
            audit_record(actor=None, action="user.created", obj=user, object_repr=username,
                         data={"via": "single sign-on", "issuer": issuer, "subject": subject,
                               "email": user.email})
        else:
            user = identity.user
            if not user.is_active:
                raise SsoRefused("your Clearance account is deactivated; ask an administrator")
            changed = {field: value for field, value in _profile(claims).items() if getattr(user, field) != value}
            if changed:
                for field, value in changed.items():
                    setattr(user, field, value)
                user.save(update_fields=list(changed))
                audit_record(actor=None, action="user.updated", obj=user, object_repr=user.get_username(),
                             data={"via": "single sign-on", "fields": sorted(changed)})
            identity.last_login_at = now
            identity.save(update_fields=["last_login_at"])
        roles_sync(user=user, groups=groups, issuer=issuer)
    return user


def sso_identity_link(*, actor: User | None, user: User, issuer: str, subject: str) -> SsoIdentity:
    """Link an existing account to an IdP account, so that its next SSO sign-in is this user."""
    with transaction.atomic():
        if SsoIdentity.objects.filter(issuer=issuer, subject=subject).exists():
            raise SsoRefused(f"subject {subject!r} at {issuer} is already linked to an account")
        now = timezone.now()
        identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject, created_at=now,
                                              last_login_at=now)
        audit_record(actor=actor, action="user.sso_linked", obj=user, object_repr=user.get_username(),
                     data={"issuer": issuer, "subject": subject})
    return identity
