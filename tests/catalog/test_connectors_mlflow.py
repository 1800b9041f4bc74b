"""The MLflow connector against a real tracking server (``mlflow server`` from PyPI, SQLite backend)
started on 127.0.0.1 for these tests; runs are logged through its REST API, then synced."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from catalog.connectors import CONNECTORS, EvalRecord, Ignored, SourceConfig, SourceError
from catalog.models import EvalResult
from catalog.services.evidence import source_create, sync_request, sync_run_execute
from tests.catalog.evidence_helpers import make_system

# The MLflow server runs on 127.0.0.1, which only an explicit allowance lets a source reach.
pytestmark = pytest.mark.usefixtures("local_evidence_hosts")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # ~8 s idle, much longer on a loaded 2-core machine
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Mlflow:
    """Logs runs the way a training or evaluation job does, over REST."""

    def __init__(self, url: str) -> None:
        self.api = url + "/api/2.0/mlflow/"

    def post(self, path: str, body: dict) -> dict:
        response = httpx.post(self.api + path, json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def experiment(self, name: str) -> str:
        return self.post("experiments/create", {"name": name})["experiment_id"]

    def run(self, experiment_id: str, *, system: str, metrics: list[tuple[str, float, int, int]],
            params: dict[str, str], finish: bool = True) -> str:
        run = self.post("runs/create", {"experiment_id": experiment_id, "start_time": metrics[0][3],
                                        "tags": [{"key": "ai_system", "value": system}]})["run"]
        run_id = run["info"]["run_id"]
        self.post("runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "step": step, "timestamp": ts} for k, v, step, ts in metrics],
            "params": [{"key": k, "value": v} for k, v in params.items()],
        })
        if finish:
            self.post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": metrics[-1][3] + 1000})
        return run_id


T0 = 1_790_000_000_000  # epoch ms (2026-09-21)
DAY = 86_400_000


@pytest.fixture(scope="module")
def logged(mlflow_url) -> dict[str, str]:
    ml = Mlflow(mlflow_url)
    exp = ml.experiment("support-copilot-evals")
    return {
        "good": ml.run(exp, system="support-copilot", params={"model_version": "v3", "dataset": "tickets-2026"},
                       metrics=[("rouge_l", 0.41, 0, T0), ("rouge_l", 0.44, 1, T0 + DAY), ("rouge_l", 0.47, 2, T0 + 2 * DAY),
                                ("latency_ms", 820.0, 0, T0)]),
        "other": ml.run(exp, system="cv-screening", params={"model_version": "v9"},
                        metrics=[("rouge_l", 0.10, 0, T0)]),
        "running": ml.run(exp, system="support-copilot", params={"model_version": "v4"},
                          metrics=[("rouge_l", 0.50, 0, T0 + 3 * DAY)], finish=False),
    }


def config(url: str, **options) -> SourceConfig:
    base = {"experiment": "support-copilot-evals", "run_filter": "tags.ai_system = 'support-copilot'",
            "metrics": ("rouge_l",)}
    return SourceConfig(kind="mlflow", location=url, system_slug="support-copilot", **(base | options))


def test_fetch_reads_every_step_of_finished_runs_matching_the_filter(mlflow_url, logged):
    items = list(CONNECTORS["mlflow"](config(mlflow_url)).fetch())
    records = [i for i in items if isinstance(i, EvalRecord)]
    assert [(r.run_id, r.metric, r.step, r.value) for r in records] == [
        (logged["good"], "rouge_l", 0, 0.41), (logged["good"], "rouge_l", 1, 0.44), (logged["good"], "rouge_l", 2, 0.47)]
    assert {(r.model_version, r.dataset) for r in records} == {("v3", "tickets-2026")}
    assert records[2].observed_at.timestamp() * 1000 == T0 + 2 * DAY
    assert [i.reason for i in items if isinstance(i, Ignored)] == [f"run {logged['running']} is RUNNING, not FINISHED"]


def test_unknown_experiment_and_bad_filter_fail_readably(mlflow_url, logged):
    with pytest.raises(SourceError, match="MLflow has no experiment named 'nope'"):
        list(CONNECTORS["mlflow"](config(mlflow_url, experiment="nope")).fetch())
    with pytest.raises(SourceError, match="INVALID_PARAMETER_VALUE"):
        list(CONNECTORS["mlflow"](config(mlflow_url, run_filter="tags.ai_system ~ 'x'")).fetch())


@pytest.mark.django_db
def test_sync_from_mlflow_is_idempotent_and_recomputes_readiness(mlflow_url, personas):
    from clearance.models import OutboxMessage

    ml = Mlflow(mlflow_url)
    exp = ml.experiment("sync-test")
    good = ml.run(exp, system="support-copilot", params={"model_version": "v3", "dataset": "tickets-2026"},
                  metrics=[("rouge_l", 0.41, 0, T0), ("rouge_l", 0.44, 1, T0 + DAY), ("rouge_l", 0.47, 2, T0 + 2 * DAY)])
    ml.run(exp, system="support-copilot", params={}, metrics=[("rouge_l", 0.5, 0, T0)], finish=False)
    system = make_system(personas, model_version="v3")
    source = source_create(
        actor=personas["owner"], system=system, kind="mlflow", name="MLflow", location=mlflow_url,
        experiment="sync-test", run_filter="tags.ai_system = 'support-copilot'", metrics=["rouge_l"],
    )
    run, _ = sync_request(actor=personas["owner"], source=source)
    assert sync_run_execute(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.rows_read, run.rows_added, run.rows_duplicate, run.rows_ignored) == (4, 3, 0, 1)
    assert list(EvalResult.objects.filter(system=system).order_by("step").values_list("step", "value")) == [
        (0, 0.41), (1, 0.44), (2, 0.47)]
    assert OutboxMessage.objects.filter(task_name="governance.recompute_readiness", kwargs__system_id=system.pk).exists()

    # A new step lands in MLflow: the next sync adds exactly that one.
    ml.post("runs/log-metric", {"run_id": good, "key": "rouge_l", "value": 0.48,
                                                "timestamp": T0 + 3 * DAY, "step": 3})
    again, _ = sync_request(actor=None, source=source)
    sync_run_execute(run_id=again.pk)
    again.refresh_from_db()
    assert (again.rows_added, again.rows_duplicate) == (1, 3)
    assert EvalResult.objects.filter(system=system).count() == 4


@pytest.mark.django_db
def test_mlflow_down_fails_the_run_and_keeps_evidence(personas):
    system = make_system(personas)
    source = source_create(actor=personas["owner"], system=system, kind="mlflow", name="MLflow",
                                    location=f"http://127.0.0.1:{free_port()}", experiment="x")
    run, _ = sync_request(actor=None, source=source)
    assert sync_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("could not reach 127.0.0.1")
