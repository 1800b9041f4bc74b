"""The demo shows the intake and review features: what the seed promises is there, and a worker
running after the seed lapses nothing else."""

from __future__ import annotations

import pytest
from django.utils import timezone

from clearance.demo import seed_demo
from clearance.models import Notification
from governance.models import Review
from governance.services.approvals import approvals_recheck
from intake.models import Attachment, TimelineEntry, UseCaseRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_evidence_hosts")]


def test_demo_seeds_intake_and_review_features():
    seed_demo()
    lapsed = Review.objects.filter(request__system__slug="kb-answer-drafts")
    assert {r.status for r in lapsed} == {"open"} and all(r.lapse_diff for r in lapsed)
    assert approvals_recheck() == [], "the seed's own approvals are pinned to what it ended with"
    duplicate = UseCaseRequest.objects.get(title="Support ticket summary assistant")
    assert any("Support" in m["title"] for m in duplicate.similar), duplicate.similar
    assert Review.objects.filter(status="open", due_at__lt=timezone.now()).exists()
    assert TimelineEntry.objects.filter(kind="question").exists() and Attachment.objects.exists()
    draft = UseCaseRequest.objects.get(title="Warehouse pick-path optimiser")
    assert draft.status == "draft" and draft.wizard_step == "people"
    assert Notification.objects.filter(subject__startswith="Overdue").exists()
