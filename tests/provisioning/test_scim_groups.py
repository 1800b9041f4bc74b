"""SCIM 2.0 Groups: create, members added and removed in Okta's and Entra's shapes, rename, delete,
and what a group grants: the roles SCIM_GROUP_ROLES maps its displayName to, nothing otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from clearance.models import AuditEvent
from clearance.roles import Role, has_role
from provisioning.models import ScimGroup
from tests.provisioning.conftest import GROUP_SCHEMA, assert_scim_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mapping(settings: Any) -> None:
    settings.SCIM_GROUP_ROLES = {"ai governance": ("governance-lead",), "clearance auditors": ("auditor",)}


def roles(user_id: str) -> set[str]:
    return set(User.objects.get(pk=int(user_id)).groups.values_list("name", flat=True))


def test_create_with_members_grants_the_mapped_role(scim: Any, idp: Any) -> None:
    ada, bob = scim.new_user("ada@example.com"), scim.new_user("bob@example.com")
    group = scim.new_group("AI Governance", [ada["id"], bob["id"]])
    assert group["schemas"] == [GROUP_SCHEMA] and group["displayName"] == "AI Governance"
    assert sorted(m["value"] for m in group["members"]) == sorted([ada["id"], bob["id"]])
    assert roles(ada["id"]) == roles(bob["id"]) == {"governance-lead"}
    assert has_role(User.objects.get(pk=int(ada["id"])), Role.GOVERNANCE_LEAD)
    assert AuditEvent.objects.filter(action="scim.roles_changed", actor=idp[0].user).count() == 2
    user = scim("get", f"/Users/{ada['id']}").json()
    assert user["groups"] == [{"value": group["id"], "$ref": group["meta"]["location"],
                               "display": "AI Governance", "type": "direct"}]


def test_an_unmapped_group_is_kept_and_grants_nothing(scim: Any) -> None:
    ada = scim.new_user("ada@example.com")
    group = scim.new_group("Marketing", [ada["id"]])
    assert roles(ada["id"]) == set()
    assert scim("get", f"/Groups/{group['id']}").json()["members"][0]["value"] == ada["id"]
    assert not AuditEvent.objects.filter(action="scim.roles_changed").exists()


def test_okta_membership_add_and_remove(scim: Any) -> None:
    ada, bob = scim.new_user("ada@example.com"), scim.new_user("bob@example.com")
    group = scim.new_group("Clearance Auditors")
    path = f"/Groups/{group['id']}"
    added = scim.patch_ops(path, {"op": "add", "path": "members",
                                  "value": [{"value": ada["id"], "display": "ada"}, {"value": bob["id"]}]})
    assert added.status_code == 200 and len(added.json()["members"]) == 2
    assert roles(ada["id"]) == {"auditor"}
    removed = scim.patch_ops(path, {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'})
    assert [m["value"] for m in removed.json()["members"]] == [bob["id"]]
    assert roles(ada["id"]) == set() and roles(bob["id"]) == {"auditor"}
    # Okta renames with a path-less replace that also carries the id.
    renamed = scim.patch_ops(path, {"op": "replace", "value": {"id": group["id"], "displayName": "Readers"}})
    assert renamed.json()["displayName"] == "Readers"
    assert roles(bob["id"]) == set()  # the new name maps to nothing
    event = AuditEvent.objects.filter(action="scim.group_updated").order_by("seq").last()
    assert event is not None and event.data["display_name"] == {"from": "Clearance Auditors", "to": "Readers"}


def test_entra_membership_add_and_remove(scim: Any) -> None:
    ada, bob = scim.new_user("ada@example.com"), scim.new_user("bob@example.com")
    group = scim.new_group("Team")
    path = f"/Groups/{group['id']}"
    scim.patch_ops(path, {"op": "Add", "path": "members", "value": [{"value": ada["id"]}]},
                   {"op": "Add", "path": "members", "value": [{"value": bob["id"]}]})
    scim.patch_ops(path, {"op": "Remove", "path": "members", "value": [{"value": ada["id"]}]})
    scim.patch_ops(path, {"op": "Replace", "path": "displayName", "value": "AI Governance"})
    got = scim("get", path).json()
    assert [m["value"] for m in got["members"]] == [bob["id"]] and got["displayName"] == "AI Governance"
    assert roles(bob["id"]) == {"governance-lead"} and roles(ada["id"]) == set()
    # Entra asks whether a user is a member with a filter, leaving the member list out.
    asked = scim("get", "/Groups", QUERY_STRING=f'filter=id eq "{group["id"]}" and members[value eq "{bob["id"]}"]'
                 "&excludedAttributes=members").json()
    assert asked["totalResults"] == 1 and "members" not in asked["Resources"][0]
    asked = scim("get", "/Groups", QUERY_STRING=f'filter=members[value eq "{ada["id"]}"]').json()
    assert asked["totalResults"] == 0


def test_a_role_given_by_hand_survives_the_idp(scim: Any) -> None:
    ada = scim.new_user("ada@example.com")
    User.objects.get(pk=int(ada["id"])).groups.add(Group.objects.get(name="auditor"))
    group = scim.new_group("Clearance Auditors", [ada["id"]])
    scim.patch_ops(f"/Groups/{group['id']}", {"op": "remove", "path": "members"})
    assert roles(ada["id"]) == {"auditor"}


def test_put_replaces_members_and_delete_takes_the_roles(scim: Any, idp: Any) -> None:
    ada, bob = scim.new_user("ada@example.com"), scim.new_user("bob@example.com")
    group = scim.new_group("AI Governance", [ada["id"]])
    put = scim("put", f"/Groups/{group['id']}", {"schemas": [GROUP_SCHEMA], "displayName": "AI Governance",
                                                 "members": [{"value": bob["id"]}]})
    assert [m["value"] for m in put.json()["members"]] == [bob["id"]]
    assert roles(ada["id"]) == set() and roles(bob["id"]) == {"governance-lead"}
    assert scim("delete", f"/Groups/{group['id']}").status_code == 204
    assert roles(bob["id"]) == set() and not ScimGroup.objects.exists()
    assert_scim_error(scim("get", f"/Groups/{group['id']}"), 404)
    assert AuditEvent.objects.get(action="scim.group_deleted").actor == idp[0].user


def test_group_errors_write_nothing(scim: Any) -> None:
    ada = scim.new_user("ada@example.com")
    group = scim.new_group("Team", [ada["id"]])
    before = (list(ScimGroup.objects.values_list("display_name", flat=True)), AuditEvent.objects.count(),
              list(ScimGroup.objects.get().members.values_list("pk", flat=True)))
    assert_scim_error(scim("post", "/Groups", {"displayName": "team"}), 409, "uniqueness")
    assert_scim_error(scim("post", "/Groups", {"displayName": ""}), 400, "invalidValue")
    assert_scim_error(scim("post", "/Groups", {"displayName": "X", "members": [{"value": "999999"}]}), 400)
    assert_scim_error(scim("post", "/Groups", {"displayName": "X", "members": [{"value": "abc"}]}), 400)
    path = f"/Groups/{group['id']}"
    assert_scim_error(scim.patch_ops(path, {"op": "add", "path": "members", "value": [{"value": "424242"}]}), 400)
    assert_scim_error(scim.patch_ops(path, {"op": "remove", "path": "displayName"}), 400, "mutability")
    assert_scim_error(scim.patch_ops(path, {"op": "replace", "path": "owner", "value": "x"}), 400, "invalidPath")
    assert_scim_error(scim.patch_ops(path, {"op": "add", "path": 'members[value eq "1"]', "value": "x"}), 400)
    assert_scim_error(scim("get", "/Groups/not-a-uuid"), 404)
    assert (list(ScimGroup.objects.values_list("display_name", flat=True)), AuditEvent.objects.count(),
            list(ScimGroup.objects.get().members.values_list("pk", flat=True))) == before


def test_list_groups_with_filter_and_paging(scim: Any) -> None:
    for n in range(5):
        scim.new_group(f"Group {n}")
    listed = scim("get", "/Groups", QUERY_STRING="startIndex=2&count=2").json()
    assert listed["totalResults"] == 5 and [g["displayName"] for g in listed["Resources"]] == ["Group 1", "Group 2"]
    found = scim("get", "/Groups", QUERY_STRING='filter=displayName eq "group 3"').json()
    assert [g["displayName"] for g in found["Resources"]] == ["Group 3"]
    assert_scim_error(scim("get", "/Groups", QUERY_STRING='filter=userName eq "x"'), 400, "invalidFilter")


def test_a_deleted_user_leaves_their_groups_and_roles(scim: Any) -> None:
    ada = scim.new_user("ada@example.com")
    group = scim.new_group("AI Governance", [ada["id"]])
    scim("delete", f"/Users/{ada['id']}")
    assert scim("get", f"/Groups/{group['id']}").json()["members"] == []
    assert roles(ada["id"]) == set()
