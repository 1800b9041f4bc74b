"""An owner the identity provider deactivates shows in the ownership-gaps report at once, and the gate
stops serving a verdict computed while they were active."""

from __future__ import annotations

from typing import Any

import pytest

from clearance.models import OutboxMessage
from governance.models import FactsVersion
from tests.provisioning.conftest import assert_scim_error

pytestmark = pytest.mark.django_db


def test_a_deactivated_owner_is_an_ownership_gap_at_once(scim: Any, client: Any, personas: Any,
                                                         request_in_review: Any) -> None:
    system = request_in_review.system
    assert system.technical_owner == personas["owner"]  # a local account the IdP matches by userName
    client.force_login(personas["lead"])
    page = client.get("/ownership-gaps/").content.decode()
    assert "No inactive owners." in page
    found = scim("get", "/Users", QUERY_STRING='filter=userName eq "owner"').json()
    assert found["totalResults"] == 1
    user_id = found["Resources"][0]["id"]
    facts = FactsVersion.objects.filter(system=system).values_list("version", flat=True).first() or 0
    response = scim.patch_ops(f"/Users/{user_id}", {"op": "replace", "value": {"active": False}})
    assert response.status_code == 200 and response.json()["active"] is False
    # The report is read live: the very next request shows the gap, with no worker run in between.
    page = client.get("/ownership-gaps/").content.decode()
    assert "No inactive owners." not in page
    row = page[page.index("Owners who left"):page.index("Documents and risks")]
    assert system.name in row and "Technical owner" in row and "Owner" in row
    # The readiness facts moved on in the same transaction, so the gate recomputes instead of serving
    # the stored verdict, and a recompute is queued.
    assert FactsVersion.objects.get(system=system).version > facts
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness",
                                        kwargs__system_id=system.pk, completed_at=None).exists()
    assert_scim_error(scim.patch_ops(f"/Users/{user_id}", {"op": "replace", "value": {"active": "no"}}), 400)
