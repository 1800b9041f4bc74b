"""Helpers shared by the evidence tests: the real sample files and a system to attach sources to."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from catalog.services.systems import system_create, system_update

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def sample(name: str) -> Path:
    path = (SAMPLES / name).resolve()
    assert path.is_file(), f"missing sample {path}"
    return path


def copy_sample(name: str, into: Path, as_name: str | None = None) -> Path:
    target = into / (as_name or Path(name).name)
    shutil.copyfile(sample(name), target)
    return target


def make_system(personas: dict[str, Any], slug: str = "support-copilot", **fields: Any) -> Any:

    system = system_create(
        actor=personas["lead"], name=slug.replace("-", " ").title(), slug=slug, purpose="Evidence tests",
        risk_tier="limited", business_owner=personas["requester"], technical_owner=personas["owner"],
        risk_owner=personas["risk"],
    )
    if fields:
        system_update(actor=personas["lead"], system=system, **fields)
        system.refresh_from_db()
    return system
