"""The composite GitHub Action (action.yml): valid action metadata, inputs reaching scripts only
through the environment, and its gate step run for real with bash against a live server, as a
runner would run it (GITHUB_OUTPUT, RUNNER_TEMP), producing the SARIF and the attestation."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.tokens import api_token_create
from tests.conftest import make_ready

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_metadata_has_what_github_requires(action):
    # name, description and runs are required; a composite action's steps each need a shell when
    # they run a script, and its outputs need a value.
    assert isinstance(action["name"], str) and action["name"]
    assert isinstance(action["description"], str) and action["description"]
    assert set(action) <= {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
    for name, spec in action["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name) and spec["description"], name
        assert set(spec) <= {"description", "required", "default", "deprecationMessage"}, name
        assert "default" in spec or spec.get("required") is True, f"{name} needs a default or required: true"
    for name, spec in action["outputs"].items():
        assert spec["description"] and spec["value"], name
    runs = action["runs"]
    assert runs["using"] == "composite" and runs["steps"]
    for step in runs["steps"]:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step.get("name")
        else:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]


def test_expressions_name_declared_inputs_and_steps_and_stay_out_of_scripts(action):
    inputs, step_ids = set(action["inputs"]), {s["id"] for s in action["runs"]["steps"] if "id" in s}
    text = ACTION.read_text()
    for expression in EXPRESSION.findall(text):
        for name in re.findall(r"\binputs\.([a-z0-9-]+)", expression):
            assert name in inputs, expression
        for name in re.findall(r"\bsteps\.([a-z0-9_-]+)\.", expression):
            assert name in step_ids, expression
    for step in action["runs"]["steps"]:
        # A value pasted into a script could inject shell: scripts read inputs from env only.
        assert not EXPRESSION.search(step.get("run", "")), step.get("name")


def test_it_runs_the_downloaded_client_uploads_sarif_and_keeps_the_attestation(action):
    steps = action["runs"]["steps"]
    gate = next(s for s in steps if s.get("id") == "gate")
    assert "/api/v1/gate/client.py" in gate["run"] and "--attestation" in gate["run"]
    assert "--format sarif" in gate["run"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert uses["github/codeql-action/upload-sarif"]["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert "always()" in uses["github/codeql-action/upload-sarif"]["if"]
    assert uses["actions/upload-artifact"]["with"]["path"] == "${{ steps.gate.outputs.attestation-file }}"
    assert "always()" in uses["actions/upload-artifact"]["if"]
    assert steps[-1]["run"].startswith("exit ")


def resolve(value: str, contexts: dict[str, str]) -> str:
    """The handful of expressions the action's env blocks use (inputs.*, github.sha)."""
    def one(match: re.Match[str]) -> str:
        return contexts[match.group(1)]
    return EXPRESSION.sub(one, value)


def run_gate_step(action: dict[str, Any], workdir: Path, inputs: dict[str, str]) -> tuple[int, dict[str, str]]:
    given = {name: inputs.get(name, str(spec.get("default", ""))) for name, spec in action["inputs"].items()}
    contexts = {"github.sha": "9fceb02d0ae598e95dc970b74767f19372d61af8"}
    given = {name: resolve(value, contexts) for name, value in given.items()}
    contexts.update({f"inputs.{name}": value for name, value in given.items()})
    gate = next(s for s in action["runs"]["steps"] if s.get("id") == "gate")
    output = workdir / "github_output"
    output.write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLEARANCE_", "GITHUB_", "CI_"))}
    env.update({key: resolve(str(value), contexts) for key, value in gate["env"].items()})
    env.update({"GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(workdir)})
    # The runner's own invocation of a bash step: bash --noprofile --norc -eo pipefail {0}
    script = workdir / "step.sh"
    script.write_text(gate["run"])
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],  # noqa: S603, S607
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done.returncode, outputs


@pytest.mark.django_db(transaction=True)
def test_the_gate_step_against_a_live_server(action, live_server, request_in_review, personas, tmp_path):
    token = api_token_create(user=personas["owner"], name="ci", scopes=["gate:check"]).plaintext
    inputs = {"url": live_server.url, "token": token, "system": "support-copilot", "environment": "production",
              "version": "1.4.2", "python": sys.executable}
    code, outputs = run_gate_step(action, tmp_path, inputs)
    assert code == 0  # the step itself succeeds; the last step fails the job on a block
    assert (outputs["exit-code"], outputs["verdict"], outputs["sarif-written"]) == ("1", "block", "true")
    sarif = json.loads((tmp_path / "clearance.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    attestation = json.loads((tmp_path / outputs["attestation-file"]).read_text())
    assert attestation["payloadType"] == "application/vnd.in-toto+json"
    request = json.loads(base64.b64decode(attestation["payload"]))["predicate"]["request"]
    # The inputs reached the client: the version through its env default, the commit from github.sha.
    assert request == {"version": "1.4.2", "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8", "pipelineUrl": ""}

    make_ready(request_in_review.system, personas)
    code, outputs = run_gate_step(action, tmp_path, inputs)
    assert (outputs["exit-code"], outputs["verdict"]) == ("0", "pass")
    verified = subprocess.run([sys.executable, outputs["client"], "verify", outputs["attestation-file"],  # noqa: S603
                               "--url", live_server.url, "--require-pass",
                               "--commit", "9fceb02d0ae598e95dc970b74767f19372d61af8"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    code, outputs = run_gate_step(action, tmp_path, {**inputs, "token": "clr_0123456789ab_wrong"})
    assert (outputs["verdict"], outputs["attestation-file"]) == ("error", "")
