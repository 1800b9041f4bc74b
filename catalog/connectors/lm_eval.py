"""lm-evaluation-harness results JSON (``results_<datetime>.json``, and the older ``{results, versions}``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from catalog.connectors.base import (
    Connector,
    EvalRecord,
    Item,
    RowError,
    SourceError,
    as_number,
    parse_instant,
    read_json_document,
)
from clearance.untrusted import fit_identifier

NOT_METRICS = frozenset({"alias", "name", "sample_len", "sample_count", "samples", " ", ""})


def _model_version(config: dict[str, Any]) -> str:
    for key in ("model_revision", "model_sha"):
        value = config.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    args = config.get("model_args")
    revision = args.get("revision") if isinstance(args, dict) else None
    if isinstance(revision, str):
        return revision
    if isinstance(args, str):
        match = re.search(r"(?:^|,)\s*revision=([^,]+)", args)
        if match:
            return match.group(1).strip()
    return ""


class LmEvalConnector(Connector):
    kind = "lm_eval"
    produces = "eval"

    def fetch(self) -> Iterator[Item]:
        doc, mtime = read_json_document(self.config)
        results = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(results, dict) or not results:
            raise SourceError("not lm-evaluation-harness results JSON: it has no 'results' object of tasks")
        observed = parse_instant(doc["date"]) if "date" in doc else mtime
        if observed is None:
            raise SourceError(
                f"date: cannot parse {doc.get('date')!r} as UNIX seconds"
                if "date" in doc else "the results say nothing of when they were produced (no 'date')"
            )
        config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
        version = _model_version(config) or self.config.default_model_version
        if "date" in doc:
            run_id = f"{doc.get('model_name') or config.get('model') or 'model'}@{doc['date']}"
        else:
            run_id = "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]
        wanted = set(self.config.metrics)
        self.total = len(results)
        for task, values in results.items():
            self.done += 1
            if not isinstance(values, dict):
                yield RowError(f"results.{task}", "is not an object of metric values")
                continue
            for key, value in values.items():
                metric_name, _, filt = key.partition(",")
                if key in NOT_METRICS or metric_name.endswith("_stderr"):
                    continue
                metric = metric_name if filt in ("", "none") else f"{metric_name},{filt}"
                if wanted and metric not in wanted and metric_name not in wanted:
                    continue
                number = as_number(value)
                if number is None:
                    yield RowError(f"results.{task}.{key}", f"{value!r} is not a number")
                    continue
                # Names are kept whole (an over-long one is refused at staging, as a form refuses
                # it); only the run id, an identifier this connector composes, is fitted.
                yield EvalRecord(
                    run_id=fit_identifier(run_id, 200),
                    metric=metric,
                    value=number,
                    observed_at=observed,
                    dataset=self.config.default_dataset or task,
                    model_version=version,
                )
