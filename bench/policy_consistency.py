"""One verdict for everyone: gunicorn workers answer from the active policy version whatever the
policy file on disk does.

    uv run python bench/policy_consistency.py [--workers 4] [--calls 200]

Seeds the demo portfolio into a throwaway SQLite database, starts gunicorn with ``--workers`` on a
copy of the policy directory, then for each situation calls the gate ``--calls`` times for a
system that passes (support-copilot) and prints the answers by verdict and policy version:

1. the shipped file, as activated by ``migrate``;
2. the file broken on disk, then half of the workers killed (gunicorn starts fresh ones that
   never saw a good file);
3. a different valid file on disk that nobody activated;
4. that file activated (``manage.py policy activate``), no restart.

Every line of 1 to 3 must show one version and one verdict; 4 must show the new version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="clearance-policy-"))
    policies = work / "policies"
    shutil.copytree(ROOT / "policies", policies)
    env = {**os.environ, "CLEARANCE_VAR_DIR": str(work / "var"), "POLICY_DIR": str(policies),
           "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}", "CELERY_BROKER_URL": "memory://localhost/",
           "GATE_RATE_LIMIT": "1000000/min", "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from clearance.demo import seed_demo
    from clearance.tokens import api_token_create

    call_command("migrate", interactive=False, verbosity=0)
    seed_demo()
    token = api_token_create(user=get_user_model().objects.get(username="owner"), name="bench",
                             scopes=["gate:check"]).plaintext

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "gunicorn", "clearance.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--timeout", "30"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    body = json.dumps({"system": "support-copilot", "environment": "production"}).encode()

    def ask(n: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        for _ in range(n):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/gate/checks", data=body,  # noqa: S310
                                             method="POST", headers={"Authorization": f"Bearer {token}",
                                                                     "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
                answer = json.loads(response.read())
            warned = " (warns: file does not load)" if any("does not load" in w for w in answer["warnings"]) else ""
            seen[f"{answer['verdict']} {answer['policy']['name']} {answer['policy']['version'][:12]}{warned}"] += 1
        return seen

    def show(title: str, seen: Counter[str]) -> None:
        print(f"{title:<58} " + "; ".join(f"{k}: {n}" for k, n in seen.most_common()), flush=True)

    shipped = (policies / "readiness.yaml").read_text()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ask(args.workers * 2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        show("1. shipped file, active", ask(args.calls))

        (policies / "readiness.yaml").write_text(shipped.replace("check: runbook_linked", "check: nope"))
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,  # noqa: S603, S607
                                                  text=True, check=True).stdout.split()]
        for pid in workers[: len(workers) // 2]:
            os.kill(pid, signal.SIGKILL)
        time.sleep(3)  # the arbiter starts fresh workers
        ask(args.workers * 2)
        show(f"2. file broken, {len(workers) // 2} of {len(workers)} workers replaced", ask(args.calls))

        newer = shipped.replace("name: default\n", "name: default-v2\n")
        (policies / "readiness.yaml").write_text(newer)
        show("3. a different valid file on disk, not activated", ask(args.calls))

        subprocess.run([sys.executable, "manage.py", "policy", "activate"], cwd=ROOT, env=env, check=True,  # noqa: S603
                       stdout=subprocess.DEVNULL)
        show("4. that file activated (no restart)", ask(args.calls))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
