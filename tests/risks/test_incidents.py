"""The incident register's services on a real database: states and transitions, classification and the
reporting deadline, the report flow, reminders, and who sees what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clearance.errors import InvalidTransition, NotAllowed
from clearance.models import AuditEvent, Notification, OutboxMessage
from risks.models import Incident
from risks.services.incidents import (
    incident_classify,
    incident_deadline_reminders,
    incident_move,
    incident_report,
)
from tests.risks.incident_helpers import open_incident

pytestmark = pytest.mark.django_db


def test_a_reported_incident_starts_in_triage_audited_and_told(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["security"], risky_system, serious_facts=["health"])
    assert incident.status == "triage" and incident.reported_by == personas["security"]
    assert incident.owner == personas["owner"]  # the system's technical owner handles it by default
    assert incident.is_serious and incident.report_status == "due" and incident.report_deadline == "general"
    assert incident.report_due_at is not None and incident.report_due_at > incident.aware_at + timedelta(days=15)
    event = AuditEvent.objects.get(action="incident.opened")
    assert event.object_id == str(incident.pk) and event.data["systems"] == [risky_system.slug]
    told = set(Notification.objects.values_list("recipient__username", flat=True))
    assert {"owner", "risk", "lead"} <= told and "auditor" not in told
    note = Notification.objects.filter(recipient__username="lead").get()
    assert "report to the market surveillance authority is due before" in note.body and "Art. 73(2)" in note.body
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness",
                                        kwargs__system_id=risky_system.pk).exists()


def test_bad_input_names_the_fields_by_label_and_writes_nothing(personas: dict[str, Any], risky_system: Any):
    events = AuditEvent.objects.count()
    now = timezone.now()
    with pytest.raises(ValidationError) as caught:
        open_incident(personas["owner"], risky_system, title="\r\n", description="short", severity="dire",
                      aware_at=now - timedelta(days=2), detected_at=now - timedelta(days=1),
                      serious_facts=["widespread_infringement"], people_affected=-3,
                      started_at=now + timedelta(days=1))
    messages = {k: " ".join(v) for k, v in caught.value.message_dict.items()}
    assert messages["title"].startswith("Title: this field is required")
    assert messages["description"].startswith("What happened: say in at least 10 characters")
    assert messages["severity"].startswith("Severity: choose one of low, medium, high, critical")
    assert messages["aware_at"] == "Aware since: cannot be before Detected"
    assert messages["serious_facts"].startswith("Serious incident (EU AI Act): also tick the harm")
    assert messages["people_affected"].startswith("People affected:")
    assert messages["started_at"] == "Started: cannot be in the future"
    assert Incident.objects.count() == 0 and AuditEvent.objects.count() == events


def test_crlf_text_is_stored_with_plain_line_breaks(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["owner"], risky_system, title="Wrong\r\nroute",
                             description="First line\r\nSecond line\r\n")
    assert incident.title == "Wrong route" and incident.description == "First line\nSecond line"


def test_someone_who_cannot_see_the_system_cannot_report_on_it(personas: dict[str, Any], risky_system: Any):
    with pytest.raises(NotAllowed):
        open_incident(personas["outsider"], risky_system)


def test_the_states_move_as_the_table_says(personas: dict[str, Any], risky_system: Any):
    owner = personas["owner"]
    incident = open_incident(personas["security"], risky_system)
    with pytest.raises(InvalidTransition, match="is triage and cannot move to mitigated"):
        incident_move(actor=owner, incident=incident, to="mitigated")
    incident = incident_move(actor=owner, incident=incident, to="investigating")
    incident = incident_move(actor=owner, incident=incident, to="mitigated", note="Rolled back to 1.3")
    with pytest.raises(ValidationError, match="Note: say in at least 10 characters how it ended"):
        incident_move(actor=owner, incident=incident, to="closed", note="done")
    assert Incident.objects.get(pk=incident.pk).status == "mitigated"
    incident = incident_move(actor=owner, incident=incident, to="closed", note="1.3 serves; 1.4 retrained.\r\n")
    assert incident.closed_at is not None and incident.resolution == "1.3 serves; 1.4 retrained."
    with pytest.raises(ValidationError, match="Note: say in at least 10 characters why it is reopened"):
        incident_move(actor=owner, incident=incident, to="investigating", note="")
    incident = incident_move(actor=owner, incident=incident, to="investigating", note="Same flags on 1.3 today")
    assert incident.closed_at is None
    assert list(AuditEvent.objects.filter(object_type="risks.incident").values_list("action", flat=True)
                .order_by("seq")) == ["incident.opened", "incident.moved", "incident.moved", "incident.moved",
                                      "incident.reopened"]


def test_a_stale_move_loses_with_a_conflict(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["security"], risky_system)
    incident_move(actor=personas["lead"], incident=incident, to="investigating", expected="triage")
    with pytest.raises(InvalidTransition) as caught:
        incident_move(actor=personas["owner"], incident=incident, to="closed", note="Duplicate of INC-1.",
                      expected="triage")
    assert caught.value.status_code == 409 and "someone changed it first" in caught.value.message
    assert Incident.objects.get(pk=incident.pk).status == "investigating"


def test_only_handlers_move_it(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["security"], risky_system)
    for name in ("requester", "auditor", "security", "outsider"):
        with pytest.raises(NotAllowed):
            incident_move(actor=personas[name], incident=incident, to="investigating")
    assert Incident.objects.get(pk=incident.pk).status == "triage"


def test_classifying_as_serious_sets_the_deadline_and_tells_the_people(personas: dict[str, Any],
                                                                        risky_system: Any):
    incident = open_incident(personas["security"], risky_system)
    assert not incident.is_serious and incident.report_status == "not_required" and incident.report_due_at is None
    Notification.objects.all().delete()
    incident = incident_classify(actor=personas["risk"], incident=incident, severity="critical",
                                 serious_facts=["critical_infrastructure"], aware_at=incident.aware_at)
    assert incident.report_deadline == "widespread-or-infrastructure" and incident.report_status == "due"
    assert Notification.objects.filter(subject__contains="is a serious incident").count() >= 3
    changed = AuditEvent.objects.get(action="incident.classified").data["changed"]
    assert changed["is_serious"] == {"before": False, "after": True}
    incident = incident_classify(actor=personas["risk"], incident=incident, severity="high", serious_facts=[],
                                 aware_at=incident.aware_at)
    assert incident.report_status == "not_required" and incident.report_due_at is None


def test_the_report_flow_initial_then_complete(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["owner"], risky_system, serious_facts=["death"])
    assert incident.report_deadline == "death"
    now = timezone.now()
    with pytest.raises(ValidationError, match="Sent: cannot be in the future"):
        incident_report(actor=personas["owner"], incident=incident, complete=False, sent_at=now + timedelta(days=1))
    incident = incident_report(actor=personas["owner"], incident=incident, complete=False, sent_at=now,
                               reference="MSA-2026-0042")
    assert incident.report_status == "initial_sent" and incident.authority_reference == "MSA-2026-0042"
    assert AuditEvent.objects.get(action="incident.reported").data["late"] is False
    with pytest.raises(InvalidTransition):
        incident_report(actor=personas["owner"], incident=incident, complete=False, sent_at=now)
    incident = incident_report(actor=personas["owner"], incident=incident, complete=True, sent_at=now)
    assert incident.report_status == "complete_sent" and incident.complete_report_at == now
    with pytest.raises(InvalidTransition):
        incident_report(actor=personas["owner"], incident=incident, complete=True, sent_at=now)


def test_a_report_for_an_incident_that_is_not_serious_is_refused(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["owner"], risky_system)
    with pytest.raises(InvalidTransition, match="not required"):
        incident_report(actor=personas["owner"], incident=incident, complete=True, sent_at=timezone.now())


def test_reminders_go_out_once_per_deadline(personas: dict[str, Any], risky_system: Any):
    now = timezone.now()
    soon = open_incident(personas["owner"], risky_system, serious_facts=["health"])
    late = open_incident(personas["owner"], risky_system, serious_facts=["health"])
    Incident.objects.filter(pk=soon.pk).update(report_due_at=now + timedelta(hours=5))
    Incident.objects.filter(pk=late.pk).update(report_due_at=now - timedelta(hours=1))
    calm = open_incident(personas["owner"], risky_system, serious_facts=["health"])  # due in 16 days
    Notification.objects.all().delete()
    assert incident_deadline_reminders(now) == {"due_soon": 1, "overdue": 1}
    assert incident_deadline_reminders(now) == {"due_soon": 0, "overdue": 0}
    subjects = set(Notification.objects.filter(recipient__username="lead").values_list("subject", flat=True))
    assert subjects == {f"Report of serious incident {soon.reference} is due soon",
                        f"Report of serious incident {late.reference} is overdue"}
    # The soon one passes its deadline: it is reminded once more, as overdue.
    assert incident_deadline_reminders(now + timedelta(hours=6)) == {"due_soon": 0, "overdue": 1}
    assert not Notification.objects.filter(subject__contains=calm.reference).exists()
    assert set(Incident.objects.overdue(now + timedelta(hours=6)).values_list("pk", flat=True)) == {soon.pk, late.pk}


def test_who_sees_an_incident(personas: dict[str, Any], risky_system: Any):
    incident = open_incident(personas["security"], risky_system)
    seen = {name for name, user in personas.items() if Incident.objects.visible_to(user).filter(pk=incident.pk)}
    # Portfolio readers, the system's owners, the reporter; not other reviewers nor outsiders.
    assert seen == {"lead", "auditor", "owner", "risk", "security"}
