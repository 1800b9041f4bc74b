"""SCIM 2.0 Users as an identity provider drives them: create, read, list with filter and paging,
replace, PATCH in Okta's and Entra's shapes, deactivate, delete — against the real app and database."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from clearance.models import AuditEvent
from clearance.tokens import api_token_create
from provisioning.models import ProvisionedUser
from tests.provisioning.conftest import USER_SCHEMA, assert_scim_error

pytestmark = pytest.mark.django_db


def test_create_then_read_back(scim: Any, idp: Any) -> None:
    created = scim.new_user("ada@example.com", externalId="00u1abc", displayName="Ada L.")
    assert created["schemas"] == [USER_SCHEMA]
    assert created["userName"] == "ada@example.com" and created["active"] is True
    assert created["name"] == {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"}
    assert created["emails"] == [{"value": "ada@example.com", "primary": True, "type": "work"}]
    assert created["externalId"] == "00u1abc" and created["displayName"] == "Ada L."
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    user = User.objects.get(pk=int(created["id"]))
    assert not user.has_usable_password()  # people the IdP provisions sign in through it
    got = scim("get", f"/Users/{created['id']}")
    assert got.status_code == 200 and got.json() == created
    assert got["Location"] == created["meta"]["location"]
    event = AuditEvent.objects.get(action="scim.user_created")
    assert event.actor == idp[0].user and event.object_id == created["id"]
    assert event.data["user_name"] == "ada@example.com" and event.data["client"] == "Okta"


def test_user_name_is_unique_without_regard_to_case(scim: Any) -> None:
    scim.new_user("grace@example.com")
    before = User.objects.count(), AuditEvent.objects.count()
    response = scim("post", "/Users", {"schemas": [USER_SCHEMA], "userName": "GRACE@example.com"})
    assert_scim_error(response, 409, "uniqueness")
    assert (User.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(("body", "words"), [
    ({"userName": ""}, "userName"),
    ({"userName": "has space"}, "userName"),
    ({"userName": "x" * 151}, "userName"),
    ({"userName": "ok", "emails": [{"value": "not-an-address"}]}, "emails"),
    ({"userName": "ok", "active": "maybe"}, "active"),
    ({"userName": "ok", "name": "Ada"}, "name"),
    ({"userName": 5}, "userName"),
])
def test_bad_user_bodies_name_the_attribute_and_write_nothing(scim: Any, body: dict[str, Any], words: str) -> None:
    before = User.objects.count(), AuditEvent.objects.count()
    error = assert_scim_error(scim("post", "/Users", body), 400, "invalidValue")
    assert words in error["detail"]
    assert (User.objects.count(), AuditEvent.objects.count()) == before


def test_list_filter_and_paging(scim: Any, personas: Any) -> None:
    for n in range(7):
        scim.new_user(f"user{n}@example.com")
    every = scim("get", "/Users").json()
    # The personas (local accounts) are listed too: an IdP matches them by userName. The IdP's own
    # service user is not.
    assert every["totalResults"] == 7 + len(personas)
    assert all(not r["userName"].startswith("scim-") for r in every["Resources"])
    found = scim("get", "/Users", QUERY_STRING='filter=userName eq "USER3@example.com"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "user3@example.com"
    none = scim("get", "/Users", QUERY_STRING='filter=userName eq "nobody@example.com"').json()
    assert none["totalResults"] == 0 and none["Resources"] == []
    ids = [r["id"] for r in every["Resources"]]
    page = scim("get", "/Users", QUERY_STRING="startIndex=3&count=4").json()
    assert (page["startIndex"], page["itemsPerPage"], page["totalResults"]) == (3, 4, len(ids))
    assert [r["id"] for r in page["Resources"]] == ids[2:6]
    # RFC 7644 3.4.2.4: a start below 1 is 1, a negative count is 0.
    assert scim("get", "/Users", QUERY_STRING="startIndex=-4&count=2").json()["startIndex"] == 1
    zero = scim("get", "/Users", QUERY_STRING="count=-1").json()
    assert zero["Resources"] == [] and zero["totalResults"] == len(ids)
    combined = scim("get", "/Users", QUERY_STRING='filter=userName sw "user" and active eq true').json()
    assert combined["totalResults"] == 7
    by_email = scim("get", "/Users", QUERY_STRING='filter=emails.value co "user5"').json()
    assert [r["userName"] for r in by_email["Resources"]] == ["user5@example.com"]
    slim = scim("get", "/Users", QUERY_STRING="count=1&excludedAttributes=groups,emails").json()["Resources"][0]
    assert "groups" not in slim and "emails" not in slim and "userName" in slim
    only = scim("get", "/Users", QUERY_STRING="count=1&attributes=userName").json()["Resources"][0]
    assert set(only) == {"schemas", "id", "userName"}


def test_search_by_post(scim: Any) -> None:
    scim.new_user("lin@example.com")
    response = scim("post", "/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                               "filter": 'userName eq "lin@example.com"', "count": 5})
    assert response.status_code == 200 and response.json()["totalResults"] == 1


@pytest.mark.parametrize("text", ['userName zz "a"', 'nickName eq "a"', 'userName eq "a" and title eq "b"',
                                  "((((", 'userName eq "a" or', "meta.created gt \"soon\""])
def test_filters_we_cannot_read_are_invalid_filter(scim: Any, text: str) -> None:
    assert_scim_error(scim("get", "/Users", QUERY_STRING=f"filter={text}"), 400, "invalidFilter")


def test_put_replaces(scim: Any) -> None:
    user = scim.new_user("max@example.com", externalId="e1")
    body = {"schemas": [USER_SCHEMA], "userName": "max.m@example.com", "name": {"givenName": "Max"},
            "emails": [{"value": "old@example.com"}, {"value": "max.m@example.com", "primary": True}]}
    response = scim("put", f"/Users/{user['id']}", body)
    assert response.status_code == 200, response.content
    got = response.json()
    assert got["userName"] == "max.m@example.com" and got["name"]["familyName"] == ""
    assert got["emails"][0]["value"] == "max.m@example.com"
    assert "externalId" not in got and got["active"] is True  # a PUT without active keeps it
    changed = AuditEvent.objects.get(action="scim.user_updated").data["changed"]
    assert changed["user_name"] == {"from": "max@example.com", "to": "max.m@example.com"}


def test_okta_patch_deactivates(scim: Any, idp: Any) -> None:
    user = scim.new_user("okta.user@example.com")
    response = scim.patch_ops(f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
    assert response.status_code == 200 and response.json()["active"] is False
    assert User.objects.get(pk=int(user["id"])).is_active is False
    event = AuditEvent.objects.get(action="scim.user_deactivated")
    assert event.actor == idp[0].user and event.data["changed"]["active"] == {"from": True, "to": False}
    again = scim.patch_ops(f"/Users/{user['id']}", {"op": "replace", "value": {"active": True}})
    assert again.json()["active"] is True
    assert AuditEvent.objects.filter(action="scim.user_reactivated").count() == 1


def test_entra_patch_shapes(scim: Any) -> None:
    user = scim.new_user("entra.user@example.com")
    response = scim.patch_ops(
        f"/Users/{user['id']}",
        {"op": "Replace", "path": "name.givenName", "value": "Edsger"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "value": "Dijkstra"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "edsger@example.com"},
        {"op": "Add", "path": "externalId", "value": "7c0f-aad"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
         "value": "Research"},
        {"op": "Replace", "path": "title", "value": "Professor"},
        {"op": "Replace", "path": "active", "value": "False"},  # Entra's string boolean
    )
    assert response.status_code == 200, response.content
    got = response.json()
    assert got["name"]["givenName"] == "Edsger" and got["name"]["familyName"] == "Dijkstra"
    assert got["emails"][0]["value"] == "edsger@example.com" and got["externalId"] == "7c0f-aad"
    assert got["active"] is False
    # Okta's whole-profile replace without a path, with the enterprise extension as an object.
    response = scim.patch_ops(f"/Users/{user['id']}", {"op": "replace", "value": {
        "name": {"givenName": "E. W."}, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "x"}, "active": True}})
    assert response.json()["name"] == {"givenName": "E. W.", "familyName": "Dijkstra", "formatted": "E. W. Dijkstra"}


def test_a_bad_operation_anywhere_changes_nothing(scim: Any) -> None:
    user = scim.new_user("atomic@example.com")
    before = User.objects.filter(pk=int(user["id"])).values().get(), AuditEvent.objects.count()
    response = scim.patch_ops(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False},
                              {"op": "replace", "path": "favouriteColour", "value": "green"})
    assert_scim_error(response, 400, "invalidPath")
    assert (User.objects.filter(pk=int(user["id"])).values().get(), AuditEvent.objects.count()) == before
    assert_scim_error(scim.patch_ops(f"/Users/{user['id']}", {"op": "remove"}), 400, "noTarget")
    assert_scim_error(scim.patch_ops(f"/Users/{user['id']}", {"op": "remove", "path": "userName"}), 400,
                      "mutability")
    assert_scim_error(scim("patch", f"/Users/{user['id']}", {"Operations": []}), 400, "invalidValue")


def test_deactivation_ends_sessions_and_api_tokens(scim: Any, client: Any) -> None:
    created = scim.new_user("leaver@example.com")
    leaver = User.objects.get(pk=int(created["id"]))
    token = api_token_create(user=leaver, name="ci", scopes=["read"]).plaintext
    assert client.get("/api/v1/systems/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    client.force_login(leaver)
    assert client.get("/systems/").status_code == 200
    scim.patch_ops(f"/Users/{created['id']}", {"op": "replace", "value": {"active": False}})
    response = client.get("/systems/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    refused = client.get("/api/v1/systems/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert refused.status_code == 401 and "deactivated" in refused.json()["error"]["message"]


def test_delete_hides_and_deactivates_but_keeps_the_account(scim: Any) -> None:
    user = scim.new_user("gone@example.com")
    assert scim("delete", f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim("get", f"/Users/{user['id']}"), 404)
    assert_scim_error(scim("delete", f"/Users/{user['id']}"), 404)
    kept = User.objects.get(pk=int(user["id"]))
    assert kept.is_active is False and ProvisionedUser.objects.get(user=kept).deleted_at is not None
    listed = scim("get", "/Users", QUERY_STRING='filter=userName eq "gone@example.com"').json()
    assert listed["totalResults"] == 0
    # The name stays with the kept account: a new person needs a new userName.
    assert_scim_error(scim("post", "/Users", {"userName": "gone@example.com"}), 409, "uniqueness")


def test_unknown_ids_are_scim_404s(scim: Any) -> None:
    for ident in ("999999", "abc", "1e3", "%C3%A9"):
        assert_scim_error(scim("get", f"/Users/{ident}"), 404)
        assert_scim_error(scim.patch_ops(f"/Users/{ident}", {"op": "replace", "value": {"active": False}}), 404)


def test_discovery_endpoints(scim: Any) -> None:
    config = scim("get", "/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    assert config["bulk"]["supported"] is False and config["changePassword"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim("get", "/ResourceTypes").json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    assert scim("get", "/ResourceTypes/User").json()["endpoint"] == "/scim/v2/Users"
    assert_scim_error(scim("get", "/ResourceTypes/Printer"), 404)
    schemas = {s["id"] for s in scim("get", "/Schemas").json()["Resources"]}
    assert {USER_SCHEMA, "urn:ietf:params:scim:schemas:core:2.0:Group"} <= schemas
    assert scim("get", f"/Schemas/{USER_SCHEMA}").json()["id"] == USER_SCHEMA
    assert_scim_error(scim("post", "/ServiceProviderConfig", {}), 405)


def test_listing_costs_the_same_queries_for_5_or_60_users(scim: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    group = scim.new_group("Everyone")

    def add(count: int) -> None:
        start = User.objects.count()
        users = User.objects.bulk_create([User(username=f"bulk{start + n}", email=f"b{start + n}@example.com")
                                          for n in range(count)])
        scim.patch_ops(f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                                  "value": [{"value": str(u.pk)} for u in users]})

    def queries() -> int:
        scim("get", "/Users")  # the token's last-used stamp is written at most once a minute
        with CaptureQueriesContext(connection) as captured:
            response = scim("get", "/Users")
        assert response.status_code == 200 and all(r["groups"] for r in response.json()["Resources"]
                                                   if r["userName"].startswith("bulk"))
        return len(captured)

    add(5)
    few = queries()
    add(55)
    assert queries() == few <= 6
    listed = scim("get", "/Groups").json()["Resources"][0]
    assert len(listed["members"]) == 60


def test_deactivation_reaches_the_gate_token_cache_of_this_process(
        scim: Any, client: Any, request_in_review: Any, personas: Any, settings: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    settings.GATE_TOKEN_CACHE_SECONDS = 300  # long enough that only the deactivation can empty it
    owner = personas["owner"]
    token = api_token_create(user=owner, name="ci", scopes=["gate:check"]).plaintext
    body = {"system": request_in_review.system.slug, "environment": "production"}

    def gate() -> Any:
        return client.post("/api/v1/gate/checks", data=body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")

    assert gate().status_code == 200  # the token is now in the process's cache
    with django_capture_on_commit_callbacks(execute=True):
        scim.patch_ops(f"/Users/{owner.pk}", {"op": "replace", "value": {"active": False}})
    refused = gate()
    assert refused.status_code == 401 and "deactivated" in refused.json()["error"]["message"]
