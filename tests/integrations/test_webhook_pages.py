"""The webhook pages, as an administrator uses them: register (the secret shown once, stored
encrypted), clear errors naming fields by label, edit, rotate, send a test through the real path,
the delivery log with its filter and pages in a bounded number of queries, redeliver, delete; every
change audited; everyone else refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from clearance.models import AuditEvent
from integrations.choices import DeliveryStatus, EventKind
from integrations.delivery import delivery_attempt
from integrations.events import emit
from integrations.forms import LABELS
from integrations.models import Delivery, Webhook
from tests.integrations.conftest import hook

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_webhooks")]


def form(**overrides: Any) -> dict[str, Any]:
    return {"name": "Ops channel", "url": "https://hooks.slack.com/services/T000/B000/XXXX", "format": "slack",
            "events": ["review.decided", "gate.blocked"], "active": "on", "secret_source": "generate"} | overrides


def test_registering_shows_the_generated_secret_once_and_stores_it_encrypted(client, admin):
    client.force_login(admin)
    response = client.post(reverse("webhook-create"), form())
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40 and secret in response.content.decode()
    webhook = Webhook.objects.get()
    assert webhook.events == ["review.decided", "gate.blocked"] and webhook.format == "slack"
    assert secret not in webhook.secret_encrypted and webhook.secret_encrypted
    for page in (reverse("webhook-detail", args=[webhook.pk]), reverse("webhook-edit", args=[webhook.pk]),
                 reverse("webhook-list")):
        assert secret not in client.get(page).content.decode(), page
    event = AuditEvent.objects.get(action="webhook.created")
    assert event.data["destination"] == "https://hooks.slack.com" and event.data["secret"] == "generated"
    assert "XXXX" not in str(event.data), "the URL's credential path stays out of the audit trail"


def test_an_entered_secret_is_kept_and_never_echoed(client, admin, receiver):
    client.force_login(admin)
    entered = "my-own-secret-of-sufficient-length-42"
    response = client.post(reverse("webhook-create"), form(url=receiver.url, format="generic", secret_source="enter",
                                                           secret=entered))
    assert response.status_code == 200 and response.context["secret"] == entered
    webhook = Webhook.objects.get()
    receiver.secret = entered
    client.post(reverse("webhook-test", args=[webhook.pk]))
    delivery = Delivery.objects.get(webhook=webhook)
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.DELIVERED
    assert receiver.received[0].verified


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"name": ""}, "Name", "required"),
    ({"url": ""}, "Destination URL", "required"),
    ({"url": "ftp://example.com/hook"}, "Destination URL", "https://"),
    ({"url": "http://hooks.example.com/x"}, "Destination URL", "must use https://"),
    ({"url": "https://user:pw@hooks.example.com/x"}, "Destination URL", "user name or password"),
    ({"url": "https://10.0.0.7/hook"}, "Destination URL", "does not fetch from internal addresses"),
    ({"url": "https://169.254.169.254/latest"}, "Destination URL", "link-local"),
    ({"url": "https://[::1]:8443/"}, "Destination URL", "WEBHOOK_ALLOWED_HOSTS"),
    ({"events": []}, "Events", "required"),
    ({"events": ["webhook.test"]}, "Events", "not one of the available choices"),
    ({"format": "irc"}, "Message format", "not one of the available choices"),
    ({"secret_source": "enter", "secret": ""}, "Secret", "Enter the secret"),
    ({"secret_source": "enter", "secret": "short"}, "Secret", "at least 24 characters"),
    ({"secret_source": "env", "secret_env": ""}, "Environment variable", "Name the environment variable"),
    ({"secret_source": "env", "secret_env": "NOT A NAME"}, "Environment variable", "environment variable name"),
])
def test_bad_input_is_refused_with_the_field_named_and_nothing_saved(client, admin, settings, overrides, field, words):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    client.force_login(admin)
    response = client.post(reverse("webhook-create"), form(**overrides))
    assert response.status_code == 400
    name = {label: key for key, label in LABELS.items()}[field]
    assert words in " ".join(response.context["form"].errors[name]), response.context["form"].errors
    body = response.content.decode()
    assert field in body and words in body, (field, words)
    assert not Webhook.objects.exists() and not AuditEvent.objects.filter(action__startswith="webhook.").exists()
    assert 'value="short"' not in body, "an entered secret is not echoed back into the form"


def test_editing_changes_what_was_asked_and_is_audited(client, admin, receiver):
    webhook, _ = hook(admin, receiver.url)
    client.force_login(admin)
    response = client.post(reverse("webhook-edit", args=[webhook.pk]),
                           form(url=receiver.url, format="teams", events=["evidence.stale"], active=""))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.format, webhook.events, webhook.active) == ("teams", ["evidence.stale"], False)
    event = AuditEvent.objects.get(action="webhook.updated")
    assert set(event.data["changed"]) == {"name", "format", "events", "active"}
    bad = client.post(reverse("webhook-edit", args=[webhook.pk]), form(url="https://192.168.1.4/"))
    assert bad.status_code == 400 and "Destination URL" in bad.content.decode()


def test_rotating_shows_a_new_secret_once_and_signs_with_it(client, admin, receiver):
    webhook, old = hook(admin, receiver.url)
    client.force_login(admin)
    response = client.post(reverse("webhook-rotate", args=[webhook.pk]))
    new = response.context["secret"]
    assert response.status_code == 200 and new != old and new in response.content.decode()
    assert AuditEvent.objects.filter(action="webhook.secret_rotated", object_id=str(webhook.pk)).exists()
    receiver.secret = new
    client.post(reverse("webhook-test", args=[webhook.pk]))
    delivery_attempt(delivery_id=Delivery.objects.get().pk)
    got = receiver.received[0]
    assert receiver.verify(new, got.headers["clearance-signature"], got.body)
    assert not receiver.verify(old, got.headers["clearance-signature"], got.body)


def test_send_test_goes_through_the_real_path_and_shows_in_the_log(client, admin, receiver):
    webhook, receiver.secret = hook(admin, receiver.url, events=["review.decided"])
    client.force_login(admin)
    assert client.post(reverse("webhook-test", args=[webhook.pk])).status_code == 302
    delivery = Delivery.objects.get()
    assert delivery.event.kind == EventKind.TEST and delivery.status == "pending"
    assert delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.DELIVERED
    assert receiver.received[0].verified and receiver.received[0].headers["clearance-event"] == "webhook.test"
    page = client.get(reverse("webhook-detail", args=[webhook.pk])).content.decode()
    assert "Test event" in page and "HTTP 200" in page and str(delivery.uuid) in page
    assert AuditEvent.objects.filter(action="webhook.test_sent").exists()


def test_the_log_filters_by_status_pages_and_stays_bounded(client, admin, django_assert_max_num_queries):
    webhook, _ = hook(admin, "http://127.0.0.1:9/hook")
    for n in range(60):
        emit(kind=EventKind.REVIEW_DECIDED, subject=webhook, summary=f"event {n}", payload={"n": n})
    Delivery.objects.filter(pk__in=list(Delivery.objects.values_list("pk", flat=True)[:7])).update(
        status="failed", error="could not reach 127.0.0.1:9", attempts=8)
    client.force_login(admin)
    url = reverse("webhook-detail", args=[webhook.pk])
    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert response.status_code == 200 and "Page 1 of 3" in response.content.decode()
    with django_assert_max_num_queries(12):
        failed = client.get(url, {"status": "failed"})
    body = failed.content.decode()
    assert body.count("Redeliver</button>") == 7 and "7 in all" in body
    assert client.get(url, {"status": "nonsense"}).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("webhook-list")).status_code == 200


def test_a_failed_delivery_can_be_redelivered_from_the_log_and_only_a_failed_one(client, admin):
    webhook, _ = hook(admin, "http://127.0.0.1:9/hook")
    emit(kind=EventKind.REVIEW_DECIDED, subject=webhook, summary="x")
    delivery = Delivery.objects.get()
    client.force_login(admin)
    response = client.post(reverse("delivery-redeliver", args=[delivery.pk]), follow=True)
    assert "only a failed delivery can be sent again" in response.content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)
    client.post(reverse("delivery-redeliver", args=[delivery.pk]))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert AuditEvent.objects.filter(action="webhook.redelivered").count() == 1


def test_deleting_removes_the_webhook_and_its_log_and_is_audited(client, admin):
    webhook, _ = hook(admin, "http://127.0.0.1:9/hook")
    emit(kind=EventKind.REVIEW_DECIDED, subject=webhook, summary="x")
    client.force_login(admin)
    assert client.post(reverse("webhook-delete", args=[webhook.pk])).status_code == 302
    assert not Webhook.objects.exists() and not Delivery.objects.exists()
    event = AuditEvent.objects.get(action="webhook.deleted")
    assert event.data["deliveries"] == 1 and event.data["name"] == "Ops receiver"


def test_only_administrators_see_the_menu_entry(client, admin, personas):
    client.force_login(admin)
    assert 'href="/webhooks/"' in client.get("/").content.decode()
    client.force_login(personas["lead"])
    assert 'href="/webhooks/"' not in client.get("/").content.decode()


@pytest.mark.parametrize("persona", ["lead", "auditor", "owner", "outsider"])
def test_everyone_else_is_refused_and_changes_nothing(client, admin, personas, persona):
    webhook, _ = hook(admin, "http://127.0.0.1:9/hook")
    emit(kind=EventKind.REVIEW_DECIDED, subject=webhook, summary="x")
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="failed")
    client.force_login(personas[persona])
    events = AuditEvent.objects.count()
    assert client.get(reverse("webhook-list")).status_code == 403
    assert client.get(reverse("webhook-create")).status_code == 403
    assert client.post(reverse("webhook-create"), form()).status_code == 403
    for name in ("webhook-detail", "webhook-edit"):
        assert client.get(reverse(name, args=[webhook.pk])).status_code == 404
    for name in ("webhook-rotate", "webhook-delete", "webhook-test", "webhook-edit"):
        assert client.post(reverse(name, args=[webhook.pk]), form()).status_code == 404
    assert client.post(reverse("delivery-redeliver", args=[delivery.pk])).status_code == 404
    assert Webhook.objects.count() == 1 and AuditEvent.objects.count() == events
    assert Delivery.objects.get().status == "failed"
