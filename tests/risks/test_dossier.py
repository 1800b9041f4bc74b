"""The audit dossier lists the system's risks with their scores and every acceptance given for it
(who, rationale, expiry; current or why it lapsed), read back from the rendered PDF."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.services import exports
from risks.services import acceptances_expire, risk_accept, risk_create, risk_update
from tests.risks.risk_helpers import risk_input

pytestmark = pytest.mark.skipif(
    not shutil.which("pdftotext"), reason="poppler-utils (pdftotext) is not installed"
)


@pytest.fixture(autouse=True)
def _export_dir(settings: Any, tmp_path: Path) -> Path:
    settings.EXPORT_DIR = tmp_path / "exports"
    path: Path = settings.EXPORT_DIR
    return path


def _treated(owner: Any, system: Any, title: str, **kw: Any) -> Any:
    return risk_create(
        actor=owner,
        systems=[system],
        data=risk_input(
            owner,
            **{
                "title": title,
                "treatment": "transfer",
                "treatment_rationale": "Insurer covers wrongful denials",
                "residual_likelihood": 3,
                "residual_impact": 3,
                **kw,
            },
        ),
    )


def test_dossier_shows_risks_and_current_and_lapsed_acceptances(
    personas: dict[str, Any], risky_system: Any
) -> None:
    owner, rita = personas["owner"], personas["risk"]
    kept = _treated(owner, risky_system, "Unequal accuracy for older claimants")
    risk_accept(
        actor=rita,
        risk=kept,
        system=risky_system,
        rationale="Covered by the claims insurer policy",
        expires_at=timezone.now() + timedelta(days=60),
    )
    changed = _treated(owner, risky_system, "Leaked claim notes in prompts")
    risk_accept(
        actor=rita,
        risk=changed,
        system=risky_system,
        rationale="Redaction filter catches most leaks",
        expires_at=timezone.now() + timedelta(days=60),
    )
    risk_update(
        actor=owner,
        risk=changed,
        data=risk_input(
            owner,
            title="Leaked claim notes in prompts",
            treatment="mitigate",
            treatment_rationale="Redaction filter added upstream",
            residual_likelihood=2,
            residual_impact=4,
        ),
    )
    expired = _treated(owner, risky_system, "Vendor model deprecation")
    short = risk_accept(
        actor=rita,
        risk=expired,
        system=risky_system,
        rationale="Vendor promised twelve months notice",
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert acceptances_expire(now=short.expires_at + timedelta(seconds=1)) == 1
    _treated(
        owner,
        risky_system,
        "Small residual",
        likelihood=2,
        impact=2,
        residual_likelihood=1,
        residual_impact=2,
    )

    with CaptureQueriesContext(connection) as ctx:
        rows = exports.dossier_risks(risky_system, timezone.now())
    assert len(ctx.captured_queries) == 2 and len(rows) == 4

    job = exports.export_run(
        export_id=exports.export_request(actor=personas["auditor"], system=risky_system, kind="dossier").pk
    )
    assert job.status == "succeeded", job.error
    text = subprocess.run(
        ["pdftotext", "-raw", str(exports.export_file(job)), "-"], check=True, capture_output=True, text=True
    ).stdout
    flat = " ".join(text.split())
    for expected in (
        "6. Risks and acceptances (4)",
        "Appetite for this tier: 6",
        "Unequal accuracy for older claimants",
        "4 × 4 = 16",
        "3 × 3 = 9 above appetite, accepted",
        "Leaked claim notes in prompts",
        "2 × 4 = 8 above appetite, not accepted",
        "Vendor model deprecation",
        "Small residual",
        f"Acceptances of risk #{kept.pk}",
        "Current",
        "Covered by the claims insurer policy",
        f"Acceptances of risk #{changed.pk}",
        "Lapsed: the risk's scores or treatment changed",
        "Redaction filter catches most leaks",
        f"Acceptances of risk #{expired.pk}",
        "Lapsed: expired",
        "Vendor promised twelve months notice",
        "7. Timeline",
    ):
        assert expected in flat, (expected, flat[-3000:])
    # Who accepted each (the risk owner persona's name is "Risk"), and the within-appetite risk unflagged.
    for state in ("Current", "Lapsed: expired", "Lapsed: the risk's scores or treatment changed"):
        assert f"{state} Risk 20" in flat, state
    assert "Small residual Owner 2 × 2 = 4 1 × 2 = 2 Transfer" in flat
    assert (timezone.now() + timedelta(days=60)).strftime("%Y-%m-%d") in flat  # the expiry
