"""A registered identity provider with its SCIM token, and a client that speaks SCIM to the app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioning.services import provisioning_client_create

SCIM = "/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    def __init__(self, client: Any, token: str) -> None:
        self.client, self.token = client, token

    def __call__(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                 raw: bytes | None = None, **extra: Any) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"} if (token or self.token) else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if method == "get":
            data = None  # the test client would read it as a query string
        kwargs: dict[str, Any] = {"content_type": "application/scim+json"} if data is not None else {}
        if data is not None:
            kwargs["data"] = data
        return getattr(self.client, method)(SCIM + path, **kwargs, **headers, **extra)

    def patch_ops(self, path: str, *ops: dict[str, Any]) -> Any:
        return self("patch", path, {"schemas": [PATCH_OP], "Operations": list(ops)})

    def new_user(self, user_name: str, **fields: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name,
                "name": {"givenName": fields.pop("given", "Ada"), "familyName": fields.pop("family", "Lovelace")},
                "emails": [{"value": fields.pop("email", f"{user_name.split('@')[0]}@example.com"),
                            "primary": True, "type": "work"}],
                "active": True, **fields}
        response = self("post", "/Users", body)
        assert response.status_code == 201, response.content
        return dict(response.json())

    def new_group(self, name: str, members: list[str] | None = None) -> dict[str, Any]:
        body = {"schemas": [GROUP_SCHEMA], "displayName": name,
                "members": [{"value": m} for m in (members or [])]}
        response = self("post", "/Groups", body)
        assert response.status_code == 201, response.content
        return dict(response.json())


def assert_scim_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == str(status) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return dict(body)


@pytest.fixture
def idp(db: None) -> Any:
    client, issued = provisioning_client_create(name="Okta")
    return client, issued.plaintext


@pytest.fixture
def scim(client: Any, idp: Any) -> Scim:
    return Scim(client, idp[1])
