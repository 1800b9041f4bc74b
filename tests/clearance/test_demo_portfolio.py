"""The demo seed reads its portfolio file strictly: a misspelt key, an unknown persona or an item
that ends somewhere else than the file says stops the seed with an error naming the item, and
nothing of the seed is left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model

from catalog.models import AISystem
from clearance.demo import DemoDataError, seed_demo
from clearance.demo.seed import PORTFOLIO
from clearance.models import AuditEvent
from intake.models import UseCaseRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]


def portfolio_with(tmp_path: Path, *items: dict[str, Any]) -> Path:
    """The real personas and acting roles, with only the given items."""
    real = yaml.safe_load(PORTFOLIO.read_text())
    path = tmp_path / "portfolio.yaml"
    path.write_text(yaml.safe_dump({
        "acting": real["acting"], "personas": real["personas"], "evaluation_source": "mlflow:test",
        "portfolio": list(items),
    }))
    return path


def catalog_system(**extra: Any) -> dict[str, Any]:
    return {"story": "a test system.", "system": {
        "slug": "test-system", "name": "Test system", "purpose": "Tests the seed.", "tier": "minimal",
        "owners": {"business": "engineer", "technical": "owner", "risk": "risk"}, "stage": "pilot", **extra}}


@pytest.fixture(autouse=True)
def _audit_before() -> None:
    # A fresh database already holds one event: migrate activated the readiness policy.
    _audit_events_before[:] = list(AuditEvent.objects.values_list("pk", flat=True))


_audit_events_before: list[int] = []


def assert_nothing_written() -> None:
    assert get_user_model().objects.count() == 0
    assert AISystem.objects.count() == 0 and UseCaseRequest.objects.count() == 0
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == _audit_events_before


def test_a_small_portfolio_seeds(tmp_path: Path) -> None:
    seed = seed_demo(path=portfolio_with(tmp_path, catalog_system()))
    assert seed.created
    assert AISystem.objects.get(slug="test-system").lifecycle_stage == "pilot"


def test_a_misspelt_key_names_the_item_and_writes_nothing(tmp_path: Path) -> None:
    item = catalog_system(evalution={"metric": "f1", "threshold": 0.9, "dataset": "d", "runs": [[1, 0.95]]})
    with pytest.raises(DemoDataError, match=r"portfolio\[0\] \(test-system\)\.system: unknown key\(s\) evalution"):
        seed_demo(path=portfolio_with(tmp_path, item))
    assert_nothing_written()


def test_an_unknown_persona_is_named(tmp_path: Path) -> None:
    item = catalog_system(owners={"business": "engineer", "technical": "nobody", "risk": "risk"})
    with pytest.raises(DemoDataError, match="no persona named 'nobody'"):
        seed_demo(path=portfolio_with(tmp_path, item))
    assert_nothing_written()


def test_a_request_that_ends_in_another_state_stops_the_seed(tmp_path: Path) -> None:
    item = {"story": "should be approved.", "request": {
        "by": "requester", "state": "approved", "tier": "minimal",
        "answers": {"title": "Test request", "problem": "Long ticket threads.", "business_outcome": "Faster replies.",
                    "why_ai": "Free text.", "alternatives_considered": ["rules"], "data_categories": ["confidential"]},
        "reviews": {"legal": {"decision": "changes_requested", "rationale": "Say more."}}}}
    with pytest.raises(DemoDataError, match=r"\(Test request\)\.request: the request ended changes_requested, "
                                            r"not approved"):
        seed_demo(path=portfolio_with(tmp_path, item))
    assert_nothing_written()


def test_a_service_refusal_names_the_item(tmp_path: Path) -> None:
    item = catalog_system(update={"colour": "blue"})
    with pytest.raises(DemoDataError, match=r"portfolio\[0\] \(test-system\): .*colour"):
        seed_demo(path=portfolio_with(tmp_path, item))
    assert_nothing_written()
