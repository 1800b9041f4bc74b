"""Guessing is slowed: failed sign-ins lock an account and an address (django-axes) for a cool-off,
the lockout is said plainly and audited, and the client address comes from a proxy header only when
one is configured. The password change page: validators, CSRF, audited, linked from every page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client

from clearance.models import AuditEvent
from tests.conftest import PASSWORD

LOGIN = "/login/"


def attempt(client: Client, username: str, password: str, address: str = "127.0.0.1", **headers: str):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def let_cool_off_pass(minutes: int) -> None:
    """The clock moves on: every counted failure happened ``minutes`` earlier than recorded."""
    for row in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=row.pk).update(attempt_time=row.attempt_time - timedelta(minutes=minutes))


@pytest.mark.django_db
def test_200_wrong_passwords_lock_the_account_until_the_cool_off_passes(client, personas, settings):
    limit, cool_off = settings.AXES_FAILURE_LIMIT, settings.LOGIN_COOLOFF_MINUTES
    assert (limit, cool_off) == (10, 15), "the shipped defaults"
    statuses = [attempt(client, "lead", f"guess-{n}").status_code for n in range(200)]
    assert statuses[: limit - 1] == [200] * (limit - 1), "wrong passwords are told as such until the limit"
    assert statuses[limit - 1 :] == [429] * (200 - limit + 1), "from the limit on, every attempt is refused"

    right = attempt(client, "lead", PASSWORD)
    assert right.status_code == 429 and not signed_in(client), "the right password is refused during the lockout"
    text = right.content.decode()
    assert "too many failed attempts for this account or from your address" in text
    assert "Try again in 15 minutes." in text and right["Retry-After"] == str(15 * 60)
    assert 'value="lead"' in text, "the login form is shown again, with the username kept"

    # Refused attempts are not counted, so the wait stays as told; one counted failure row, at the limit.
    assert AccessAttempt.objects.get(username="lead").failures_since_start == limit
    events = AuditEvent.objects.filter(action="signin.locked_out")
    assert events.count() == 1, "the lockout is audited once, when it begins"
    event = events.get()
    assert event.object_id == str(personas["lead"].pk) and event.actor_repr == "system"
    assert event.data == {"username": "lead", "address": "127.0.0.1", "failures": limit, "limit": limit,
                          "cool_off_minutes": cool_off, "known_account": True}

    # Another account from another address is not affected.
    other = Client()
    assert attempt(other, "requester", PASSWORD, address="10.1.2.3").status_code == 302 and signed_in(other)

    let_cool_off_pass(cool_off - 1)
    still = attempt(client, "lead", PASSWORD)
    assert still.status_code == 429 and "Try again in 1 minute." in still.content.decode()
    let_cool_off_pass(1)
    assert attempt(client, "lead", PASSWORD).status_code == 302 and signed_in(client)
    assert not AccessAttempt.objects.filter(username="lead").exists(), "a success clears the count"


@pytest.mark.django_db
def test_one_address_guessing_many_accounts_is_locked_but_not_the_accounts(client, personas, settings):
    settings.AXES_FAILURE_LIMIT = 4
    for name in ("security", "legal", "privacy", "auditor"):
        attempt(client, name, "not-it", address="192.0.2.8")
    refused = attempt(client, "owner", PASSWORD, address="192.0.2.8")
    assert refused.status_code == 429 and not signed_in(client)
    # The accounts themselves had one failure each: from elsewhere they sign in.
    elsewhere = Client()
    assert attempt(elsewhere, "security", PASSWORD, address="198.51.100.4").status_code == 302
    lockout = AuditEvent.objects.get(action="signin.locked_out")
    assert lockout.data["address"] == "192.0.2.8" and lockout.data["username"] == "auditor"


@pytest.mark.django_db
def test_guesses_at_an_unknown_account_are_locked_and_audited(client, personas, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        attempt(client, "nobody-here", "x")
    event = AuditEvent.objects.get(action="signin.locked_out")
    assert event.data["known_account"] is False and event.object_type == "axes.accessattempt"
    assert "sign-in for nobody-here" in event.object_repr


@pytest.mark.django_db
def test_a_forwarded_header_counts_only_when_configured(client, personas, settings):
    settings.AXES_FAILURE_LIMIT = 3
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.77"}
    # Not configured: the header is the client's own say-so and is ignored; the peer address counts.
    for n in range(3):
        attempt(client, f"user{n}", "x", address="10.0.0.5", **spoofed)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.5"}
    assert attempt(client, "owner", PASSWORD, address="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429

    # Behind a proxy that appends the address it saw: the right-most entry is the client.
    AccessAttempt.objects.all().delete()
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    for n in range(3):
        attempt(client, f"user{n}", "x", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 203.0.113.9")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}
    # Another client behind the same proxy is its own address.
    other = Client()
    ok = attempt(other, "owner", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert ok.status_code == 302


# --- password change ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_password_page_is_linked_and_changes_the_password_audited(client, personas):
    owner = personas["owner"]
    client.force_login(owner)
    assert 'href="/password/"' in client.get("/").content.decode(), "linked from the user menu"
    page = client.get("/password/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()

    wrong = client.post("/password/", {"old_password": "not-mine", "new_password1": "a fresh passphrase 2027",
                                       "new_password2": "a fresh passphrase 2027"})
    assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    weak = client.post("/password/", {"old_password": PASSWORD, "new_password1": "12345678",
                                      "new_password2": "12345678"})
    text = weak.content.decode()
    assert weak.status_code == 200 and "This password is too common." in text and "entirely numeric" in text
    mismatch = client.post("/password/", {"old_password": PASSWORD, "new_password1": "a fresh passphrase 2027",
                                          "new_password2": "another passphrase 2027"})
    assert mismatch.status_code == 200 and "didn’t match" in mismatch.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD) and not AuditEvent.objects.filter(action="user.password_changed").exists()

    done = client.post("/password/", {"old_password": PASSWORD, "new_password1": "a fresh passphrase 2027",
                                      "new_password2": "a fresh passphrase 2027"})
    assert done.status_code == 302 and done["Location"] == "/password/changed/"
    assert "Your password has been changed" in client.get(done["Location"]).content.decode()
    owner.refresh_from_db()
    assert owner.check_password("a fresh passphrase 2027") and not owner.check_password(PASSWORD)
    assert client.get("/").status_code == 200, "this session stays signed in"
    event = AuditEvent.objects.get(action="user.password_changed")
    assert event.actor_id == owner.pk and event.object_id == str(owner.pk)
    assert "passphrase" not in str(event.data) and "pbkdf2" not in str(event.data).lower()

    fresh = Client()
    assert attempt(fresh, "owner", "a fresh passphrase 2027").status_code == 302
    assert attempt(Client(), "owner", PASSWORD).status_code == 200, "the old password no longer signs in"


@pytest.mark.django_db
def test_changing_the_password_needs_the_csrf_token_and_a_session(personas):
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(personas["owner"])
    refused = guarded.post("/password/", {"old_password": PASSWORD, "new_password1": "a fresh passphrase 2027",
                                          "new_password2": "a fresh passphrase 2027"})
    assert refused.status_code == 403
    assert User.objects.get(username="owner").check_password(PASSWORD)
    anonymous = Client().get("/password/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
