"""Signed gate attestations: the server's envelope describes exactly the answer it sent (stored or
live verdict), follows the DSSE and in-toto formats, and the published keys verify it."""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import io
import json
from typing import Any
from unittest import mock

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client

from clearance import gate_client
from clearance.dsse import pae, sign_envelope
from clearance.keyring import ed25519_public_keys, key_fingerprint, public_key_raw
from clearance.tokens import api_token_create
from tests.conftest import make_ready
from tests.governance.test_readiness_consistency import drain_outbox

GATE = "/api/v1/gate/checks"
KEYS = "/.well-known/clearance/gate-keys.json"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"


@pytest.fixture
def gate_token(personas: dict[str, Any]) -> str:
    return api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext


def ask(client: Client, token: str, query: str = "", **body: Any) -> tuple[int, dict[str, Any]]:
    payload = {"system": "support-copilot", "environment": "production", **body}
    response = client.post(GATE + query, data=json.dumps(payload), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json()


def opened(envelope: dict[str, Any], key: Ed25519PublicKey) -> dict[str, Any]:
    """Verify like a third party would, with nothing of ours but the public key, then parse."""
    body = base64.b64decode(envelope["payload"])
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae(envelope["payloadType"], body))
    assert envelope["signatures"][0]["keyid"] == hashlib.sha256(public_key_raw(key)).hexdigest()[:16]
    return dict(json.loads(body))


def assert_describes(statement: dict[str, Any], answer: dict[str, Any], *, version: str, commit: str) -> None:
    predicate = statement["predicate"]
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://clearance.dev/attestations/gate-verdict/v1"
    assert (predicate["verdict"], predicate["system"], predicate["environment"], predicate["checkedAt"]) == (
        answer["verdict"], answer["system"], answer["environment"], answer["checked_at"])
    assert predicate["gateCheck"] == {"id": answer["id"], "url": answer["url"]}
    assert predicate["policy"]["name"] == answer["policy"]["name"]
    assert predicate["policy"]["version"] == answer["policy"]["version"]
    assert predicate["policy"]["digest"] == {"sha256": answer["policy"]["version"]}
    assert predicate["requirements"] == [
        {"id": r["id"], "status": r["status"], "reason": r["message"], "since": r["since"]}
        for r in answer["requirements"]]
    assert predicate["request"]["version"] == version and predicate["request"]["commit"] == commit
    assert predicate["warnings"] == answer["warnings"]
    identity = {"system": answer["system"], "version": version, "commit": commit}
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    subject = statement["subject"]
    assert len(subject) == 1 and subject[0]["name"] == answer["system"]
    assert subject[0]["digest"]["sha256"] == hashlib.sha256(canonical).hexdigest()


def test_pae_follows_the_dsse_test_vector():
    # The worked example of the DSSE protocol document.
    expected = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("http://example.com/HelloWorld", b"hello world") == expected
    assert gate_client.pae("http://example.com/HelloWorld", b"hello world") == expected
    # Lengths count bytes, not characters.
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


@pytest.mark.django_db
def test_no_attestation_unless_asked(client, request_in_review, gate_token):
    status, answer = ask(client, gate_token)
    assert status == 200 and "attestation" not in answer
    status, answer = ask(client, gate_token, "?attestation=0")
    assert status == 200 and "attestation" not in answer


@pytest.mark.django_db
def test_a_bad_attestation_flag_is_named(client, request_in_review, gate_token):
    status, answer = ask(client, gate_token, "?attestation=maybe")
    assert status == 400 and "attestation" in answer["error"]["fields"]
    status, answer = ask(client, gate_token, attestation="sure")
    assert status == 400 and "attestation" in answer["error"]["fields"]


@pytest.mark.django_db
def test_live_and_stored_answers_are_attested_exactly(client, settings, request_in_review, personas, gate_token):
    key = settings.GATE_SIGNING_KEY.public_key()
    # No current stored verdict yet: the gate computes one and answers from it.
    with mock.patch("governance.api.views.gate_check_stored", side_effect=AssertionError("not the stored path")):
        status, answer = ask(client, gate_token, attestation=True, commit=COMMIT, version="1.4.2")
    assert status == 200 and answer["verdict"] == "block"
    statement = opened(answer["attestation"], key)
    assert_describes(statement, answer, version="1.4.2", commit=COMMIT)
    assert statement["subject"][0]["digest"]["gitCommit"] == COMMIT
    assert any(r["status"] != "met" and r["reason"] for r in statement["predicate"]["requirements"])

    make_ready(request_in_review.system, personas)
    drain_outbox()
    # The stored verdict is current now: it is served, and its attestation says exactly that.
    with mock.patch("governance.api.views.gate_check", side_effect=AssertionError("not the live path")):
        status, answer = ask(client, gate_token, "?attestation=1", commit="abc1234")
    assert status == 200 and answer["verdict"] == "pass"
    statement = opened(answer["attestation"], key)
    assert_describes(statement, answer, version="", commit="abc1234")
    # A short commit is not a Git object id: only the sha256 names the subject.
    assert set(statement["subject"][0]["digest"]) == {"sha256"}


@pytest.mark.django_db
def test_a_tampered_answer_does_not_verify(client, settings, request_in_review, gate_token):
    status, answer = ask(client, gate_token, attestation=True)
    envelope = answer["attestation"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["verdict"] = "pass"
    forged = {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    with pytest.raises(InvalidSignature):
        opened(forged, settings.GATE_SIGNING_KEY.public_key())


@pytest.mark.django_db
def test_the_published_keys_need_no_login_and_keep_retired_keys(client, settings):
    old = Ed25519PrivateKey.generate()
    old_b64 = base64.b64encode(public_key_raw(old.public_key())).decode()
    settings.GATE_PUBLIC_KEYS = ed25519_public_keys(values=old_b64, private=settings.GATE_SIGNING_KEY,
                                                    variable="GATE_PUBLIC_KEYS")
    response = Client().get(KEYS)
    assert response.status_code == 200
    assert "public" in response["Cache-Control"] and "max-age=" in response["Cache-Control"]
    doc = response.json()
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    current = key_fingerprint(settings.GATE_SIGNING_KEY.public_key())
    by_id = {k["keyid"]: k for k in doc["keys"]}
    assert by_id[current]["status"] == "current" and doc["keys"][0]["keyid"] == current
    retired = by_id[key_fingerprint(old.public_key())]
    assert (retired["status"], retired["publicKey"], retired["algorithm"]) == ("retired", old_b64, "ed25519")
    # Public halves only: neither the raw private key nor its base64 appears.
    private_raw = settings.GATE_SIGNING_KEY.private_bytes_raw()
    assert base64.b64encode(private_raw).decode() not in response.content.decode()
    assert "PRIVATE" not in response.content.decode()


def test_a_rotation_by_settings_keeps_old_attestations_verifiable(settings, monkeypatch, tmp_path):
    """GATE_SIGNING_KEY_FILE holds the new key, GATE_PUBLIC_KEYS the old public half: the key set
    lists both and an attestation by the old key still verifies with what is published."""
    import clearance.settings as settings_module

    old = Ed25519PrivateKey.generate()
    old_attestation = sign_envelope(b'{"x":1}', key=old)
    new_file = tmp_path / "gate.key"
    generated = io.StringIO()
    call_command("gate_keys", "--generate", stdout=generated)
    new_file.write_text(generated.getvalue().splitlines()[0].split("=", 1)[1])
    monkeypatch.setenv("GATE_SIGNING_KEY_FILE", str(new_file))
    monkeypatch.setenv("GATE_PUBLIC_KEYS", base64.b64encode(public_key_raw(old.public_key())).decode())
    fresh = importlib.reload(settings_module)
    try:
        assert not fresh.GATE_SIGNING_KEY_DERIVED
        settings.GATE_SIGNING_KEY, settings.GATE_PUBLIC_KEYS = fresh.GATE_SIGNING_KEY, fresh.GATE_PUBLIC_KEYS
        printed = io.StringIO()
        call_command("gate_keys", stdout=printed)
        published = {k["keyid"]: k for k in json.loads(printed.getvalue())["keys"]}
        assert published[key_fingerprint(old.public_key())]["status"] == "retired"
        assert published[key_fingerprint(fresh.GATE_SIGNING_KEY.public_key())]["status"] == "current"
        verified = gate_client.verify_envelope  # the client's own check, with the published keys only
        keys = {kid: base64.b64decode(k["publicKey"]) for kid, k in published.items()}
        with pytest.raises(gate_client.NotVerified, match="malformed statement"):
            verified(old_attestation, keys)  # signature accepted; the body is just not a statement
        # Both at once is refused rather than silently picking one.
        monkeypatch.setenv("GATE_SIGNING_KEY", base64.b64encode(old.private_bytes_raw()).decode())
        with pytest.raises(ImproperlyConfigured, match="GATE_SIGNING_KEY or GATE_SIGNING_KEY_FILE"):
            importlib.reload(settings_module)
    finally:
        monkeypatch.delenv("GATE_SIGNING_KEY", raising=False)
        monkeypatch.delenv("GATE_SIGNING_KEY_FILE", raising=False)
        monkeypatch.delenv("GATE_PUBLIC_KEYS", raising=False)
        importlib.reload(settings_module)


@pytest.mark.django_db
def test_the_reference_libraries_accept_the_attestation(client, settings, request_in_review, gate_token):
    """Checked by code we did not write: securesystemslib (the DSSE authors' library) verifies the
    envelope with the published key, and in-toto's own Statement v1 bindings validate the statement,
    subject digests included."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    status, answer = ask(client, gate_token, attestation=True, commit=COMMIT, version="1.4.2")
    assert status == 200
    published = Client().get(KEYS).json()["keys"]
    keys = [SSlibKey(k["keyid"], "ed25519", "ed25519", {"public": base64.b64decode(k["publicKey"]).hex()})
            for k in published]
    # from_dict rewrites the signatures it is given in place: hand it copies.
    envelope = Envelope.from_dict(copy.deepcopy(answer["attestation"]))
    assert envelope.pae() == pae(envelope.payload_type, envelope.payload)
    accepted = envelope.verify(keys, 1)
    assert list(accepted) == [key_fingerprint(settings.GATE_SIGNING_KEY.public_key())]

    parsed = json_format.Parse(envelope.payload, statement_pb2.Statement())  # unknown keys refused
    Statement.copy_from_pb(parsed).validate()
    assert parsed.subject[0].digest["gitCommit"] == COMMIT

    # A tampered copy is refused by the same library.
    from securesystemslib.exceptions import VerificationError

    tampered = copy.deepcopy(answer["attestation"])
    statement = json.loads(base64.b64decode(tampered["payload"]))
    statement["predicate"]["verdict"] = "pass"
    tampered["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(VerificationError):
        Envelope.from_dict(tampered).verify(keys, 1)
