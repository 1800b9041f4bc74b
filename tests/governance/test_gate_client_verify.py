"""`clearance-check verify`: a saved attestation checked offline against published keys, each way it
can fail named by its reason, a rotated key still verifying what it signed, and the stdlib-only
client without `cryptography` (the gate works, verify says what it needs). Then the whole round trip
against a live server."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearance.dsse import published_key, sign_envelope
from clearance.keyring import key_fingerprint
from clearance.tokens import api_token_create
from governance.api.attestation import canonical_json, statement_for
from tests.conftest import make_ready

CLIENT = Path(__file__).resolve().parents[2] / "clearance" / "gate_client.py"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
# Makes `import cryptography` fail in the child, as on a CI runner without the package.
BLOCK_CRYPTOGRAPHY = f"""
import runpy, sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == "cryptography" or name.startswith("cryptography."):
            raise ImportError("blocked for this test: " + name)
        return None
sys.meta_path.insert(0, _Blocker())
runpy.run_path({str(CLIENT)!r}, run_name="__main__")
"""

ANSWER: dict[str, Any] = {
    "id": 412, "verdict": "pass", "system": "support-copilot", "environment": "production",
    "policy": {"name": "default", "version": "3500ca79b937be3ba085c3ced48f299b6eca9c36319102b5b59442aea49e70be"},
    "checked_at": "2026-11-21T10:15:02.114000+00:00",
    "requirements": [{"id": "owners-assigned", "status": "met", "message": "owners assigned", "since": None}],
    "url": "https://clearance.example.com/systems/support-copilot/#env-production", "warnings": [],
}


def envelope_by(key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    statement = statement_for({**ANSWER, **changes}, version="1.4.2", commit=COMMIT, pipeline_url="")
    return sign_envelope(canonical_json(statement), key=key)


def key_set(*keys: Ed25519PrivateKey) -> dict[str, Any]:
    return {"keys": [published_key(key_fingerprint(k.public_key()), k.public_key(), current=i == 0)
                     for i, k in enumerate(keys)]}


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def verify(*args: str, blocked: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARANCE_", "GITHUB_", "CI_"))}
    argv = ([sys.executable, "-I", "-c", BLOCK_CRYPTOGRAPHY] if blocked else [sys.executable, "-I", str(CLIENT)])
    return subprocess.run([*argv, "verify", *args], capture_output=True, text=True, timeout=60, env=env,  # noqa: S603
                          check=False)


@pytest.fixture
def signer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def keys(tmp_path: Path, signer: Ed25519PrivateKey) -> Path:
    return write(tmp_path / "keys.json", key_set(signer))


def test_a_good_attestation_verifies(tmp_path, signer, keys):
    saved = write(tmp_path / "att.json", envelope_by(signer))
    done = verify(str(saved), "--keys", str(keys), "--system", "support-copilot", "--commit", COMMIT[:7],
                  "--environment", "production", "--deploy-version", "1.4.2", "--require-pass")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "attestation verified: PASS for support-copilot in production" in done.stdout
    assert key_fingerprint(signer.public_key()) in done.stdout
    as_json = json.loads(verify(str(saved), "--keys", str(keys), "--json").stdout)
    assert as_json["verified"] is True and as_json["statement"]["predicate"]["verdict"] == "pass"


def test_a_tampered_payload_is_a_bad_signature(tmp_path, signer, keys):
    envelope = envelope_by(signer, verdict="block")
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["verdict"] = "pass"
    envelope["payload"] = base64.b64encode(canonical_json(statement)).decode()
    done = verify(str(write(tmp_path / "att.json", envelope)), "--keys", str(keys))
    assert done.returncode == 1
    assert "attestation NOT verified: bad signature" in done.stdout


def test_a_tampered_signature_is_a_bad_signature(tmp_path, signer, keys):
    envelope = envelope_by(signer)
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    done = verify(str(write(tmp_path / "att.json", envelope)), "--keys", str(keys), "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["reason"] == "bad signature"


def test_a_key_that_is_not_published_is_an_unknown_key_id(tmp_path, keys):
    stranger = Ed25519PrivateKey.generate()
    done = verify(str(write(tmp_path / "att.json", envelope_by(stranger))), "--keys", str(keys))
    assert done.returncode == 1
    assert "unknown key id" in done.stdout and key_fingerprint(stranger.public_key()) in done.stdout


def test_a_wrong_key_behind_a_published_key_id_is_a_bad_signature(tmp_path, signer, keys):
    envelope = envelope_by(Ed25519PrivateKey.generate())
    envelope["signatures"][0]["keyid"] = key_fingerprint(signer.public_key())
    done = verify(str(write(tmp_path / "att.json", envelope)), "--keys", str(keys))
    assert done.returncode == 1 and "bad signature" in done.stdout


def test_a_rotated_key_still_verifies_what_it_signed(tmp_path):
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    before = write(tmp_path / "before.json", envelope_by(old))
    after = write(tmp_path / "after.json", envelope_by(new))
    rotated = write(tmp_path / "rotated.json", key_set(new, old))  # new current, old retired
    assert verify(str(before), "--keys", str(rotated)).returncode == 0
    assert verify(str(after), "--keys", str(rotated)).returncode == 0
    dropped = verify(str(before), "--keys", str(write(tmp_path / "dropped.json", key_set(new))))
    assert dropped.returncode == 1 and "unknown key id" in dropped.stdout


def test_a_wrong_payload_type_is_refused_even_when_signed(tmp_path, signer, keys):
    statement = statement_for(ANSWER, version="", commit="", pipeline_url="")
    envelope = sign_envelope(canonical_json(statement), payload_type="application/json", key=signer)
    done = verify(str(write(tmp_path / "att.json", envelope)), "--keys", str(keys))
    assert done.returncode == 1 and "payload type wrong" in done.stdout


@pytest.mark.parametrize("content", ["not json {", json.dumps({"payload": "x"}), json.dumps(
    {"payloadType": "application/vnd.in-toto+json", "payload": "%%%", "signatures": [{"keyid": "a", "sig": "b"}]}),
    json.dumps([1, 2])])
def test_a_malformed_envelope_is_named(tmp_path, keys, content):
    saved = tmp_path / "att.json"
    saved.write_text(content)
    done = verify(str(saved), "--keys", str(keys))
    assert done.returncode == 1 and "malformed envelope" in done.stdout


def test_a_subject_other_than_expected_is_refused(tmp_path, signer, keys):
    saved = write(tmp_path / "att.json", envelope_by(signer))
    for flag, value in (("--system", "cv-screening"), ("--commit", "1111111"), ("--environment", "staging"),
                        ("--deploy-version", "1.4.3")):
        done = verify(str(saved), "--keys", str(keys), flag, value)
        assert done.returncode == 1 and "subject mismatch" in done.stdout, (flag, done.stdout)
    blocked = write(tmp_path / "block.json", envelope_by(signer, verdict="block"))
    done = verify(str(blocked), "--keys", str(keys), "--require-pass")
    assert done.returncode == 1 and "verdict is not pass" in done.stdout


def test_a_key_set_that_files_a_key_under_another_id_is_an_error(tmp_path, signer):
    doc = key_set(signer)
    doc["keys"][0]["keyid"] = "0123456789abcdef"
    saved = write(tmp_path / "att.json", envelope_by(signer))
    done = verify(str(saved), "--keys", str(write(tmp_path / "keys.json", doc)))
    assert done.returncode == 2 and "does not match its key id" in done.stderr


def test_without_cryptography_verify_says_so_with_its_own_exit_code(tmp_path, signer, keys):
    saved = write(tmp_path / "att.json", envelope_by(signer))
    done = verify(str(saved), "--keys", str(keys), blocked=True)
    assert done.returncode == 3
    assert "needs the Python package 'cryptography'" in done.stderr and done.stdout == ""


@pytest.mark.django_db(transaction=True)
def test_round_trip_against_a_live_server(live_server, request_in_review, personas, tmp_path, settings):
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARANCE_", "GITHUB_", "CI_"))}
    gate = [sys.executable, "-I", str(CLIENT), "--url", live_server.url, "--token", token,
            "--system", "support-copilot", "--environment", "production", "--commit", COMMIT]

    # Without cryptography the stdlib-only client still asks the gate and saves the attestation.
    blocked_file = tmp_path / "blocked.json"
    done = subprocess.run([sys.executable, "-I", "-c", BLOCK_CRYPTOGRAPHY, *gate[3:], "--attestation",  # noqa: S603
                           str(blocked_file)], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 1 and "BLOCK" in done.stdout, done.stderr
    assert verify(str(blocked_file), "--url", live_server.url, "--commit", COMMIT).returncode == 0

    make_ready(request_in_review.system, personas)
    saved = tmp_path / "pass.json"
    done = subprocess.run([*gate, "--attestation", str(saved)], capture_output=True, text=True, timeout=60,  # noqa: S603
                          env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    checked = verify(str(saved), "--url", live_server.url, "--system", "support-copilot", "--commit", COMMIT,
                     "--require-pass")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Offline: a saved copy of the published keys does the same.
    import urllib.request

    with urllib.request.urlopen(live_server.url + "/.well-known/clearance/gate-keys.json") as response:  # noqa: S310
        keys_copy = tmp_path / "gate-keys.json"
        keys_copy.write_bytes(response.read())
    assert verify(str(saved), "--keys", str(keys_copy), "--require-pass").returncode == 0
    # The earlier block is still a block: verify with --require-pass refuses it.
    assert verify(str(blocked_file), "--keys", str(keys_copy), "--require-pass").returncode == 1
