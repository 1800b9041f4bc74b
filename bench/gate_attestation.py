"""What an attestation costs the gate, and what verifying one costs: server time of
POST /api/v1/gate/checks with and without ``"attestation": true`` in the same run, and the offline
check of a saved attestation.

    uv run python bench/gate_attestation.py [--runs 300]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clearance_bench uv run python bench/gate_attestation.py

Seeds the demo portfolio into a throwaway database (a temp SQLite file unless DATABASE_URL is set;
that database is migrated and must be disposable). The two kinds of call alternate, so drift of a
busy machine falls on both alike; each answer comes from the stored verdict (the fast path). Then it
times the signing alone, the client's verification in-process (``verify_envelope``) and a whole
``clearance-check verify`` run as CI would start it. Figures, not assertions: compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CLEARANCE_VAR_DIR", tempfile.mkdtemp(prefix="clearance-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
os.environ.setdefault("GATE_RATE_LIMIT", "1000000/min")
os.environ.setdefault("EVIDENCE_ALLOWED_HOSTS", "127.0.0.1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402


def summary(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20)[18]


def line(name: str, samples: list[float], unit: str = "ms") -> str:
    median, p95 = summary(samples)
    return f"{name:<36} median {median:8.3f} {unit}   p95 {p95:8.3f} {unit}"


def clock(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--cli-runs", type=int, default=20, help="whole `clearance-check verify` processes")
    args = parser.parse_args()

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    from clearance import gate_client
    from clearance.demo import seed_demo
    from clearance.dsse import gate_key_set
    from clearance.tokens import api_token_create
    from governance.api.attestation import attest

    seed_demo()
    owner = get_user_model().objects.get(username="owner")
    token = api_token_create(user=owner, name="bench", scopes=["gate:check"]).plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"system": "support-copilot", "environment": "production", "version": "1.4.2",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8"}

    def gate(attestation: bool) -> dict[str, object]:
        response = client.post("/api/v1/gate/checks", json.dumps({**body, "attestation": attestation}),
                               content_type="application/json")
        assert response.status_code == 200, response.content
        return dict(response.json())

    for _ in range(20):
        gate(False), gate(True)
    plain, signed = [], []
    for _ in range(args.runs):
        plain.append(clock(lambda: gate(False)))
        signed.append(clock(lambda: gate(True)))
    print(f"database: {connection.vendor}, runs: {args.runs} of each, alternating")
    print(line("gate without attestation", plain))
    print(line("gate with attestation", signed))
    ratio = statistics.median(signed) / statistics.median(plain)
    print(f"{'':<36} ratio with/without (medians) x{ratio:.3f}, "
          f"+{statistics.median(signed) - statistics.median(plain):.3f} ms")

    answer = gate(True)
    envelope = answer.pop("attestation")
    print(line("signing alone (statement + DSSE)",
               [clock(lambda: attest(answer, version="1.4.2", commit=body["commit"], pipeline_url=""))
                for _ in range(args.runs)]))
    raw_keys = {k["keyid"]: gate_client._b64decode(k["publicKey"]) for k in gate_key_set()["keys"]}
    print(line("verify in-process (verify_envelope)",
               [clock(lambda: gate_client.verify_envelope(envelope, raw_keys)) for _ in range(args.runs)]))

    with tempfile.TemporaryDirectory() as tmp:
        saved, keys = Path(tmp, "attestation.json"), Path(tmp, "gate-keys.json")
        saved.write_text(json.dumps(envelope))
        keys.write_text(json.dumps(gate_key_set()))
        argv = [sys.executable, "-I", str(ROOT / "clearance" / "gate_client.py"), "verify", str(saved), "--keys",
                str(keys), "--require-pass"]
        runs = []
        for _ in range(args.cli_runs):
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
            runs.append((time.perf_counter() - start) * 1000)
            assert done.returncode == 0, done.stdout + done.stderr
        print(line("clearance-check verify (a process)", runs))


if __name__ == "__main__":
    main()
