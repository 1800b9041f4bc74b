"""Pages answer a database outage with a plain 503 page and Retry-After, not a 500: a database that
refuses connections (gunicorn against a port where nothing listens, or an SQLite file it cannot
open), a statement past its timeout behind a held lock (PostgreSQL), and an outage raised where no
view catches it."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client, RequestFactory

from clearance.views import server_error
from tests.governance.test_gate_outages import lock_table
from tests.servers import Gunicorn, free_port
from tests.test_celery_worker import database_url

OUTAGE = "Clearance cannot reach its database right now"


def fetch(url: str, *, cookie: str = "", data: bytes | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), exc.headers


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OperationalError("server closed the connection unexpectedly"),
                                   InterfaceError("connection already closed")])
def test_a_page_that_loses_the_database_answers_the_503_page(client, personas, monkeypatch, error):
    client.force_login(personas["owner"])

    def down() -> None:
        raise error

    monkeypatch.setattr("governance.context_processors._policy_problem", down)
    response = client.get("/systems/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    assert OUTAGE in text and "The database is down or refuses connections." in text
    assert "Try again shortly: in 5 seconds or so." in text


def test_an_outage_outside_any_view_reaches_the_500_handler_and_answers_503():
    request = RequestFactory().get("/systems/")
    try:
        raise OperationalError("could not connect to server")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and OUTAGE in response.content.decode() and response["Retry-After"] == "5"
    try:
        raise OperationalError("could not connect to server")
    except OperationalError:
        api = server_error(RequestFactory().get("/api/v1/systems/"))
    assert api.status_code == 503 and api["Content-Type"] == "application/json"
    try:
        raise ValueError("a bug")
    except ValueError:
        bug = server_error(request)
    assert bug.status_code == 500, "a bug is still a 500"


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_pages_on_a_server_whose_database_is_unreachable_answer_503(tmp_path, kind):
    nowhere = (f"postgres://postgres@127.0.0.1:{free_port()}/clearance" if kind == "postgres"  # nothing listens
               else f"sqlite:///{tmp_path}/no-such-directory/clearance.sqlite3")  # cannot be opened
    server = Gunicorn(nowhere, tmp_path / "gunicorn.log", OUTAGE_RETRY_AFTER_SECONDS="1", DB_CONNECT_TIMEOUT="2")
    try:
        # A signed-in visitor: the session must be read from the database.
        status, text, headers = fetch(f"{server.url}/systems/", cookie="sessionid=abcdefghijklmnopqrstuvwxyz012345")
        assert status == 503, text[:500]
        assert headers["Retry-After"] == "1" and headers["Content-Type"].startswith("text/html")
        assert OUTAGE in text and "The database is down or refuses connections." in text

        # Signing in needs the database too (the failed-attempt count): 503, not 500.
        status, page, headers = fetch(f"{server.url}/login/")
        assert status == 200, "the login page itself needs no database"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"])
        assert csrf_cookie is not None
        body = f"csrfmiddlewaretoken={token.group(1)}&username=lead&password=whatever".encode()
        status, text, headers = fetch(f"{server.url}/login/", cookie=f"csrftoken={csrf_cookie.group(1)}", data=body)
        assert status == 503 and OUTAGE in text and headers["Retry-After"] == "1"
    finally:
        server.stop()
    output = server.output()
    assert "answering 503, database outage" in output and "Traceback" not in output


@pytest.mark.django_db(transaction=True)
def test_a_page_behind_a_held_lock_answers_503_within_the_statement_timeout(personas, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has neither table locks nor a statement timeout (its busy "
                    "timeout bounds waits instead)")
    browser = Client()
    browser.force_login(personas["owner"])  # the session row is committed: the server reads it
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    server = Gunicorn(database_url(), tmp_path / "gunicorn.log", OUTAGE_RETRY_AFTER_SECONDS="1",
                      DB_STATEMENT_TIMEOUT_MS="1000")
    release, locked = threading.Event(), threading.Event()
    holder = threading.Thread(target=lock_table, args=("catalog_aisystem", release, locked), daemon=True)
    try:
        assert fetch(f"{server.url}/systems/", cookie=cookie)[0] == 200  # warm: the views are imported
        holder.start()
        assert locked.wait(10)
        started = time.monotonic()
        status, text, headers = fetch(f"{server.url}/systems/", cookie=cookie)
        took = time.monotonic() - started
        assert status == 503, text[:500]
        assert OUTAGE in text and "did not answer in time" in text and headers["Retry-After"] == "1"
        assert 0.9 <= took < 5, f"answered after {took:.2f}s; the statement timeout is 1 s"
        release.set()
        holder.join(10)
        assert fetch(f"{server.url}/systems/", cookie=cookie)[0] == 200, "the page is back once the lock goes"
    finally:
        release.set()
        holder.join(10)
        server.stop()
    assert "Traceback" not in server.output()
