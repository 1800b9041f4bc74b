"""Server-side fetches never reach internal addresses: loopback, link-local, private and multicast
are refused when a source is saved (with the field named), after DNS resolution, on every redirect
and at connect time, unless the administrator lists the host in EVIDENCE_ALLOWED_HOSTS."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest
from django.urls import reverse

from catalog.connectors.base import LocationRefused, check_location
from catalog.models import EvalResult, EvidenceSource
from catalog.services.evidence import source_create, sync_request, sync_run_execute
from tests.catalog.evidence_helpers import make_system, sample

pytestmark = pytest.mark.django_db


def form_data(location: str) -> dict:
    return {"name": "Nightly evals", "kind": "mlflow", "location": location, "experiment": "evals",
            "metrics": "rouge_l", "model_version_key": "model_version", "dataset_key": "dataset",
            "auth_kind": "none", "enabled": "on", "interval_minutes": "60"}


@pytest.mark.parametrize("location", ["http://169.254.169.254/", "http://127.0.0.1:22/", "http://10.0.0.7:5000",
                                      "http://[::1]:5000/", "http://224.0.0.1/", "http://0.0.0.0:5000/",
                                      "http://localhost:5000/", "http://[::ffff:169.254.169.254]/"])
def test_internal_addresses_are_refused_at_save_with_the_field_named(client, personas, settings, location):
    settings.EVIDENCE_ALLOWED_HOSTS = []
    system = make_system(personas)
    client.force_login(personas["owner"])
    response = client.post(reverse("evidence-source-create", args=[system.slug]), form_data(location))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["location"])
    assert "does not fetch from internal addresses" in errors and "EVIDENCE_ALLOWED_HOSTS" in errors
    body = response.content.decode()
    assert "does not fetch from internal addresses" in body and 'id="id_location"' in body
    assert not EvidenceSource.objects.exists()


def test_an_allowed_host_may_be_saved(personas, settings):
    system = make_system(personas)
    settings.EVIDENCE_ALLOWED_HOSTS = []
    with pytest.raises(LocationRefused):
        check_location("http://127.0.0.1:5000")
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1:5000"]
    check_location("http://127.0.0.1:5000")
    with pytest.raises(LocationRefused, match="loopback"):
        check_location("http://127.0.0.1:22"), "the allowance names a port; another port stays refused"
    src = source_create(actor=personas["owner"], system=system, kind="mlflow", name="local",
                        location="http://127.0.0.1:5000", experiment="evals")
    assert src.location == "http://127.0.0.1:5000"


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict

    def do_GET(self):
        self.__class__.hosts.append(self.headers.get("Host"))
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, dict, list]]:
    routes: dict = {}
    hosts: list = []
    handler = type("H", (Handler,), {"routes": routes, "hosts": hosts})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], routes, hosts
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """``evidence.example`` answers the addresses queued in the list, one per lookup (the last one
    repeats): a name that changes its answer between two lookups, as a rebinding attacker's does.
    Every other name resolves as usual."""
    answers: list[str] = []
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "evidence.example":
            lookups.append(host)
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def run_source(personas, location: str):
    system = make_system(personas)
    src = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="evals", location=location,
                        default_model_version="v1")
    run, _ = sync_request(actor=personas["owner"], source=src)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_redirect_to_a_private_address_is_refused_at_fetch(personas, settings, server, rebinding_dns):
    port, routes, hosts = server
    answers, lookups = rebinding_dns
    # The administrator allowed the test server's own address; the name first resolves there, then
    # (for the redirect's lookup) to a private address.
    settings.EVIDENCE_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    answers[:] = ["127.0.0.1", "127.0.0.1", "10.0.0.5"]
    routes["/latest.json"] = (302, {"Location": "/runs/42.json"}, b"")
    routes["/runs/42.json"] = (200, {"Content-Type": "application/json",
                                      "Last-Modified": "Wed, 18 Nov 2026 08:00:00 GMT"},
                               sample("lm_eval/legacy_arc_challenge-v2.0-res.json").read_bytes())
    run = run_source(personas, f"http://evidence.example:{port}/latest.json")
    assert run.status == "failed"
    assert "evidence.example (10.0.0.5) is a private address" in run.error
    assert hosts == [f"evidence.example:{port}"], "the first hop went out with its own Host header; the redirect never did"
    assert not EvalResult.objects.exists()


def test_the_connection_goes_to_the_address_that_was_checked(personas, settings, server, rebinding_dns):
    port, routes, hosts = server
    answers, lookups = rebinding_dns
    settings.EVIDENCE_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    # Saving looks the name up once; each fetch hop once more. Were the client to look the name up
    # again to connect, it would get 10.0.0.5 and fail to connect.
    answers[:] = ["127.0.0.1", "127.0.0.1", "127.0.0.1", "10.0.0.5"]
    routes["/latest.json"] = (302, {"Location": "/runs/42.json"}, b"")
    routes["/runs/42.json"] = (200, {"Content-Type": "application/json",
                                      "Last-Modified": "Wed, 18 Nov 2026 08:00:00 GMT"},
                               sample("lm_eval/legacy_arc_challenge-v2.0-res.json").read_bytes())
    run = run_source(personas, f"http://evidence.example:{port}/latest.json")
    assert run.status == "succeeded", run.error
    assert run.rows_added == 2
    assert len(lookups) == 3, "one lookup at save and one per hop, none behind the check's back"
    assert hosts == [f"evidence.example:{port}"] * 2


def test_an_unlisted_local_server_is_refused_at_fetch_too(personas, settings, server):
    """A source saved while the host was allowed stops fetching once the allowance is withdrawn."""
    port, routes, hosts = server
    settings.EVIDENCE_ALLOWED_HOSTS = ["127.0.0.1"]
    system = make_system(personas)
    src = source_create(actor=personas["owner"], system=system, kind="lm_eval", name="evals",
                        location=f"http://127.0.0.1:{port}/r.json", default_model_version="v1")
    settings.EVIDENCE_ALLOWED_HOSTS = []
    run, _ = sync_request(actor=personas["owner"], source=src)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "127.0.0.1 is a loopback address" in run.error
    assert hosts == []
