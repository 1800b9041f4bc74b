"""Hostile SCIM requests: random JSON bodies for create and replace, random PATCH operations, random
filters, paging and attribute lists. Every answer is below 500, an error is SCIM error JSON, and an
error writes nothing (no row, no audit event)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import given
from hypothesis import strategies as st

from clearance.models import AuditEvent
from provisioning.models import ScimGroup
from tests.fuzzing import FUZZ, HOSTILE_NUMBERS, HOSTILE_STRINGS, TRIED
from tests.provisioning.conftest import ERROR_SCHEMA, PATCH_OP

pytestmark = pytest.mark.django_db

USER_KEYS = ["userName", "name", "givenName", "familyName", "displayName", "emails", "active", "externalId",
             "groups", "password", "title", "id", "meta", "schemas", "members", "value", "primary", "type",
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:x:y:z",
             "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"]
PATHS = ["active", "userName", "displayName", "externalId", "name", "name.givenName", "name.familyName",
         "name.formatted", "name.x", "emails", "emails.value", 'emails[type eq "work"].value', "emails[", "groups",
         "members", 'members[value eq "1"]', 'members[value eq "x" or value eq "2"]', "members[display eq 1]",
         "members.value", "displayname", "title", "urn:ietf:params:scim:schemas:core:2.0:User:active",
         "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "urn:bad", "", ".", "a.b.c",
         "id", "meta.created", "schemas"]
FILTER_PARTS = ["userName", "emails.value", "active", "name.givenName", "externalId", "id", "displayName",
                "members", "members.value", "meta.created", "title", "eq", "ne", "co", "sw", "ew", "pr", "gt", "ge",
                "lt", "le", "and", "or", "not", "(", ")", "[", "]", '"a"', '"ada@example.com"', "true", "false",
                "null", "1", '"2024-01-01T00:00:00Z"', '"\\"', "'", "%", "_", ".", ","]

scalars = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS), st.text(max_size=30),
                    st.booleans(), st.none(), st.integers())
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(USER_KEYS), st.text(max_size=8)), inner, max_size=5)), max_leaves=12)
bodies = st.dictionaries(st.sampled_from(USER_KEYS + ["displayName", "members"]), json_values, max_size=7)
member_lists = st.lists(st.fixed_dictionaries({"value": st.one_of(st.sampled_from(["1", "2", "999", "-1", "01"]),
                                                                   scalars)}), max_size=3)
operations = st.fixed_dictionaries(
    {"op": st.one_of(st.sampled_from(["add", "remove", "replace", "Add", "Replace", "REMOVE", "move"]), scalars)},
    optional={"path": st.one_of(st.sampled_from(PATHS), scalars),
              "value": st.one_of(json_values, member_lists, bodies)})
patch_bodies = st.one_of(
    st.fixed_dictionaries({"schemas": st.just([PATCH_OP]), "Operations": st.lists(operations, max_size=4)}),
    st.fixed_dictionaries({"Operations": json_values}), bodies)
filters = st.one_of(st.lists(st.sampled_from(FILTER_PARTS), min_size=1, max_size=9).map(" ".join),
                    st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40))


def world(scim: Any) -> tuple[str, str]:
    user = scim.new_user("fuzz@example.com")
    group = scim.new_group("Fuzzers", [user["id"]])
    return user["id"], group["id"]


def state() -> tuple[Any, ...]:
    return (AuditEvent.objects.count(), User.objects.count(), ScimGroup.objects.count(),
            list(User.objects.order_by("pk").values_list("username", "is_active", "email")))


def check(response: Any, before: tuple[Any, ...], label: str) -> None:
    TRIED[label] += 1
    assert response.status_code < 500, (label, response.status_code, response.content[:500])
    if response.status_code >= 400:
        body = response.json()
        assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == str(response.status_code), body
        assert state() == before, (label, body)


def test_random_create_and_replace_bodies(scim: Any) -> None:
    user_id, group_id = world(scim)

    @FUZZ
    @given(body=bodies, target=st.sampled_from(["post /Users", "put /Users/{u}", "post /Groups", "put /Groups/{g}"]))
    def run(body: dict[str, Any], target: str) -> None:
        method, path = target.split(" ")
        before = state()
        check(scim(method, path.format(u=user_id, g=group_id), raw=json.dumps(body).encode()), before, target)

    run()


def test_random_patch_operations(scim: Any) -> None:
    user_id, group_id = world(scim)

    @FUZZ
    @given(body=patch_bodies, path=st.sampled_from([f"/Users/{user_id}", f"/Groups/{group_id}"]))
    def run(body: dict[str, Any], path: str) -> None:
        before = state()
        check(scim("patch", path, raw=json.dumps(body).encode()), before, f"patch {path.split('/')[1]}")

    run()


def test_random_filters_paging_and_projections(scim: Any) -> None:
    world(scim)
    numbers = st.one_of(st.sampled_from(["", "0", "-5", "1", "2", "abc", "1.5", "99999999999999999999", "1e3"]),
                        st.text(max_size=5))

    @FUZZ
    @given(text=filters, start=numbers, count=numbers, attrs=st.text(max_size=20),
           where=st.sampled_from(["/Users", "/Groups"]), search=st.booleans())
    def run(text: str, start: str, count: str, attrs: str, where: str, search: bool) -> None:
        before = state()
        if search:
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": text,
                    "startIndex": start, "count": count, "excludedAttributes": attrs}
            response = scim("post", f"{where}/.search", raw=json.dumps(body).encode())
        else:
            from urllib.parse import urlencode

            query = urlencode({"filter": text, "startIndex": start, "count": count, "attributes": attrs})
            response = scim("get", where, QUERY_STRING=query)
        check(response, before, f"list {where}")

    run()


def test_raw_bytes_and_odd_ids(scim: Any) -> None:
    world(scim)

    @FUZZ
    @given(raw=st.one_of(st.binary(max_size=60), st.sampled_from([s.encode("utf-8", "surrogatepass")
                                                                  for s in HOSTILE_STRINGS[:40]])),
           ident=st.one_of(st.sampled_from(["0", "-1", "1.0", "00000000-0000-0000-0000-000000000000", "%00",
                                            "9" * 40]), st.text(alphabet="0123456789abcdef-", max_size=40)),
           where=st.sampled_from(["Users", "Groups"]), method=st.sampled_from(["put", "patch", "get", "delete"]))
    def run(raw: bytes, ident: str, where: str, method: str) -> None:
        before = state()
        check(scim(method, f"/{where}/{ident or '1'}", raw=raw), before, f"raw {method}")

    run()
