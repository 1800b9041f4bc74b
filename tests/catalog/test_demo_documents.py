"""The demo seeds the catalog's documents: imported cards, a supersession chain, registers, gaps."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Dataset, ModelCard, Vendor
from catalog.selectors.gaps import ownership_gaps
from clearance.demo import seed_demo
from governance.models import DecisionRecord

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]


def test_demo_seeds_documents_registers_and_gaps():
    seed_demo()
    formats = set(ModelCard.objects.exclude(source_format="").values_list("system__slug", "source_format"))
    assert formats == {("legacy-sentiment-scorer", "huggingface"), ("demand-forecaster", "model_card_toolkit")}
    superseded = DecisionRecord.objects.get(system__slug="support-copilot", status="superseded")
    assert superseded.superseded_by.get().status == "accepted"
    assert Vendor.objects.get(name="Azure OpenAI").systems.filter(slug="support-copilot").exists()
    assert Dataset.objects.filter(personal_data=True).count() == 2
    lead = get_user_model().objects.get(username="lead")
    overdue = {str(obj) for _, obj, _, _ in ownership_gaps(lead, timezone.localdate()).overdue}
    assert {"orders-2019-2024", "Acme Vision AI"} <= overdue
