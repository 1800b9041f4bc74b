"""Check compose.yaml without Docker: the Compose Specification's JSON Schema (deploy/schemas/,
source and licence in its SOURCES.md), then what the schema cannot say: every dependency names a
service, the app services share one image, and each long-running app service has a healthcheck on
/healthz or /readyz. Exit 1 with one line per problem.

    uv run python deploy/check_compose.py [compose.yaml]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "schemas" / "compose-spec.json"
APP_SERVICES = ("migrate", "web", "worker", "beat")
PROBED = {"web": "/readyz", "worker": "/healthz"}


def problems(path: Path) -> list[str]:
    doc: Any = yaml.safe_load(path.read_text())
    schema = json.loads(SCHEMA.read_text())
    found = [f"{path}: {'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
             for error in sorted(Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))]
    if found:
        return found
    services: dict[str, Any] = doc.get("services", {})
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for dependency in depends if isinstance(depends, list | dict) else []:
            if dependency not in services:
                found.append(f"{path}: services/{name}/depends_on: no service {dependency!r}")
    images = {services[name].get("image") for name in APP_SERVICES if name in services}
    missing = [name for name in APP_SERVICES if name not in services]
    if missing:
        found.append(f"{path}: services: missing {', '.join(missing)}")
    if len(images) != 1:
        found.append(f"{path}: the app services must share one image, found {sorted(map(str, images))}")
    for name, probe in PROBED.items():
        test = " ".join(map(str, services.get(name, {}).get("healthcheck", {}).get("test", [])))
        if probe not in test:
            found.append(f"{path}: services/{name}/healthcheck must call {probe}")
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else HERE.parent / "compose.yaml"
    found = problems(path)
    for line in found:
        print(line)
    if not found:
        print(f"{path}: valid (Compose Specification schema and Clearance's own rules)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
