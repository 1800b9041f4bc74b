"""The deployment files say what the README promises: one image for every role, probes on /healthz
and /readyz, a non-root user, the migration job alone connecting as the database owner, exactly one
beat. (.ci/run lints the same files with hadolint, kubernetes-validate and the Compose schema.)"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert match, "the Dockerfile has a CMD in exec form"
    return list(yaml.safe_load(match.group(1)))


def test_the_dockerfile_is_multi_stage_built_with_uv_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert "uv sync --frozen --no-dev" in text
    assert re.search(r"^USER 10001", text, re.M)
    assert dockerfile_cmd()[:3] == ["gunicorn", "-c", "python:clearance.observability.gunicorn_config"]
    config = importlib.import_module("clearance.observability.gunicorn_config")
    assert callable(config.child_exit) and callable(config.on_starting)


def test_every_workload_runs_the_same_image_as_a_non_root_user():
    docs = manifests()
    workloads = [doc for (kind, _), doc in docs.items() if kind in ("Deployment", "Job")]
    assert {doc["metadata"]["name"] for doc in workloads} == {
        "clearance-web", "clearance-worker", "clearance-beat", "clearance-migrate"}
    images = {c["image"] for doc in workloads for c in containers(doc)}
    assert len(images) == 1, images
    for doc in workloads:
        assert pod(doc)["securityContext"]["runAsNonRoot"] is True
        for container in containers(doc):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness():
    docs = manifests()
    web = pod(docs[("Deployment", "clearance-web")])["containers"][0]
    assert web["command"] == dockerfile_cmd()
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    worker = pod(docs[("Deployment", "clearance-worker")])["containers"][0]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {"name": "CELERY_METRICS_PORT", "value": "9808"} in worker["env"]
    service = docs[("Service", "clearance-web")]
    assert service["spec"]["selector"] == docs[("Deployment", "clearance-web")]["spec"]["selector"]["matchLabels"]


def test_only_the_migration_job_connects_as_the_database_owner():
    docs = manifests()
    job = pod(docs[("Job", "clearance-migrate")])["containers"][0]
    assert job["command"] == ["python", "manage.py", "migrate", "--noinput"]
    url = next(e for e in job["env"] if e["name"] == "DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"]["name"] == "clearance-owner"
    assert docs[("ConfigMap", "clearance-config")]["data"]["DB_RUNTIME_ROLE"] == "clearance_app"
    for name in ("clearance-web", "clearance-worker", "clearance-beat"):
        assert "clearance-owner" not in yaml.safe_dump(docs[("Deployment", name)]), name
    secrets = docs[("Secret", "clearance-runtime")]["stringData"]
    assert secrets["DATABASE_URL"].startswith("postgres://clearance_app:")


def test_exactly_one_beat_and_it_is_never_doubled_during_a_release():
    beat = manifests()[("Deployment", "clearance-beat")]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_compose_file_is_valid_and_keeps_the_same_rules():
    import sys

    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        check_compose = importlib.import_module("check_compose")
    finally:
        sys.path.pop(0)
    assert check_compose.problems(ROOT / "compose.yaml") == []
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = doc["services"]
    assert services["web"]["command"] == dockerfile_cmd()
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith("postgres://clearance_owner:")
    assert services["migrate"]["environment"]["DB_RUNTIME_ROLE"] == "clearance_app"
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://clearance_app:"), name
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
