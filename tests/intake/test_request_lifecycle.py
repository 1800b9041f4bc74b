from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clearance.audit import verify_chain
from clearance.errors import DomainError, InvalidTransition, NotAllowed
from clearance.models import AuditEvent, Notification, OutboxMessage
from intake import services
from intake.models import UseCaseRequest
from tests.conftest import answers

pytestmark = pytest.mark.django_db


def test_draft_submit_suggests_a_tier_with_reasons_and_notifies_governance(personas):
    req = services.request_create_draft(requester=personas["requester"], **answers(
        annex_iii_area="employment", customer_facing=True, interacts_with_people=True))
    assert req.status == "draft" and req.suggested_tier == ""
    services.request_submit(actor=personas["requester"], request=req)
    req.refresh_from_db()
    assert req.status == "submitted" and req.submitted_at is not None
    assert req.suggested_tier == "high"
    rules = {r["rule"] for r in req.tier_reasons}
    assert {"eu-ai-act-annex-iii", "eu-ai-act-art50-interaction", "personal-data-customer-facing"} <= rules
    note = Notification.objects.get(recipient=personas["lead"])
    assert "New AI use-case request" in note.subject
    assert OutboxMessage.objects.filter(task_name="clearance.deliver_notification", kwargs__notification_id=note.pk).exists()
    actions = list(AuditEvent.objects.filter(object_id=str(req.pk), object_type="intake.usecaserequest")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["request.draft_created", "request.submitted"]


def test_prohibited_practice_suggests_prohibited(personas):
    req = services.request_create_draft(requester=personas["requester"], **answers(prohibited_practices=["social_scoring"]))
    services.request_submit(actor=personas["requester"], request=req)
    req.refresh_from_db()
    assert req.suggested_tier == "prohibited"


def test_submit_names_the_missing_fields_and_writes_nothing(personas):
    req = services.request_create_draft(requester=personas["requester"], title="Half an idea")
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        services.request_submit(actor=personas["requester"], request=req)
    assert set(info.value.message_dict) == {"problem", "business_outcome", "why_ai", "alternatives_considered",
                                            "data_categories"}
    req.refresh_from_db()
    assert req.status == "draft" and AuditEvent.objects.count() == before


def test_unknown_choice_values_are_rejected_by_field(personas):
    with pytest.raises(ValidationError) as info:
        services.request_create_draft(requester=personas["requester"], **answers(data_categories=["secret-sauce"]))
    assert "data_categories" in info.value.message_dict
    assert not UseCaseRequest.objects.exists()


def test_only_the_requester_submits_and_invalid_moves_change_nothing(personas):
    req = services.request_create_draft(requester=personas["requester"], **answers())
    with pytest.raises(NotAllowed):
        services.request_submit(actor=personas["outsider"], request=req)
    with pytest.raises(NotAllowed):
        services.request_start_triage(actor=personas["requester"], request=req)
    with pytest.raises(InvalidTransition):
        services.request_start_triage(actor=personas["lead"], request=req)
    req.refresh_from_db()
    assert req.status == "draft"


def test_triage_tier_override_needs_justification(personas):
    req = services.request_create_draft(requester=personas["requester"], **answers())
    services.request_submit(actor=personas["requester"], request=req)
    services.request_start_triage(actor=personas["lead"], request=req)
    req.refresh_from_db()
    other = "high" if req.suggested_tier != "high" else "minimal"
    with pytest.raises(DomainError) as info:
        services.request_set_tier(actor=personas["lead"], request=req, tier=other)
    assert info.value.field == "tier_justification"
    services.request_set_tier(actor=personas["lead"], request=req, tier=other, justification="Board decision.")
    req.refresh_from_db()
    assert req.risk_tier == other
    assert AuditEvent.objects.filter(action="request.tier_overridden").count() == 1


def test_system_from_request_inherits_tier_owners_and_slug_must_be_unique(request_in_review, personas):
    system = request_in_review.system
    assert system.slug == "support-copilot" and system.risk_tier == request_in_review.risk_tier
    assert (system.business_owner, system.technical_owner, system.risk_owner) == (
        personas["requester"], personas["owner"], personas["risk"])
    assert system.requested_by == personas["requester"]
    other = services.request_create_draft(requester=personas["requester"], **answers(title="Another"))
    services.request_submit(actor=personas["requester"], request=other)
    services.request_start_triage(actor=personas["lead"], request=other)
    other.refresh_from_db()
    services.request_set_tier(actor=personas["lead"], request=other, tier=other.suggested_tier)
    with pytest.raises(DomainError) as info:
        services.request_create_system(actor=personas["lead"], request=other, slug="support-copilot")
    assert info.value.field == "slug" and "already taken" in info.value.message
    other.refresh_from_db()
    assert other.system is None


def test_withdraw_is_terminal(personas):
    req = services.request_create_draft(requester=personas["requester"], **answers())
    services.request_withdraw(actor=personas["requester"], request=req)
    with pytest.raises(InvalidTransition):
        services.request_submit(actor=personas["requester"], request=req)
    assert verify_chain().ok
