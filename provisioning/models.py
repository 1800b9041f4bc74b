"""What an identity provider keeps in Clearance over SCIM 2.0.

Clearance uses Django's default ``auth.User``. django-scim2 expects SCIM columns (``scim_id``,
``scim_external_id``…) on the user and group models; swapping the user model of a running
installation is a migration every table with a user foreign key would have to follow, so the SCIM
side lives beside it instead: a one-to-one ``ProvisionedUser`` for what only SCIM knows of a user,
and ``ScimGroup`` for the IdP's groups. Roles stay Django groups (``clearance.roles``); a SCIM group
grants roles only through ``settings.SCIM_GROUP_ROLES`` (``provisioning.services``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class ProvisioningClient(models.Model):
    """An identity provider allowed to provision: it acts as its own service user (which holds its
    API token with the ``scim`` scope and is the actor of every audit event it causes)."""

    name = models.CharField(max_length=100, unique=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="provisioning_client")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProvisionedUser(models.Model):
    """What SCIM knows of a user beyond ``auth.User``. Created on the first SCIM write that touches
    the user (a local account the IdP matches by userName gets one when it is first changed)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="provisioning")
    external_id = models.CharField(max_length=300, blank=True)
    display_name = models.CharField(max_length=300, blank=True)
    provisioned_by = models.ForeignKey(ProvisioningClient, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    # The roles SCIM group membership granted; only these are taken away again when the membership
    # ends, so a role an administrator gave by hand survives a change in the IdP.
    granted_roles = models.JSONField(default=list, blank=True)
    # A SCIM DELETE keeps the account (deactivated) for the audit trail and ownership history: it is
    # hidden from SCIM from then on.
    deleted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"SCIM profile of user #{self.user_id}"


class ScimGroup(models.Model):
    """A group as the identity provider names it; membership is kept whether or not it grants a role."""

    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    display_name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="scim_groups")
    created_by = models.ForeignKey(ProvisioningClient, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            # The role mapping is keyed by displayName without regard to case: two groups that differ
            # only in case would make it ambiguous.
            models.UniqueConstraint(Lower("display_name"), name="scim_group_display_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name
