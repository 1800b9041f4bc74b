"""promptfoo output JSON (``promptfoo eval -o out.json``, results version 2 and 3)."""

from __future__ import annotations

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


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the document, or an empty one where it has none (or something else)."""
    return value if isinstance(value, dict) else {}

class PromptfooConnector(Connector):
    kind = "promptfoo"
    produces = "eval"

    def fetch(self) -> Iterator[Item]:
        doc, _ = read_json_document(self.config)
        body = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(body, dict) or "stats" not in body or not isinstance(body.get("results"), list):
            raise SourceError("not promptfoo output JSON: expected {evalId, results: {stats, results[]}}")
        eval_id = doc.get("evalId") or ""
        if not isinstance(eval_id, str) or not eval_id:
            raise SourceError("evalId: missing; promptfoo writes one for every evaluation")
        metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        stamp = body.get("timestamp") or metadata.get("evaluationCreatedAt")
        observed = parse_instant(stamp)
        if observed is None:
            raise SourceError(f"results.timestamp: cannot parse the date {stamp!r}")
        stats = body["stats"] if isinstance(body["stats"], dict) else {}
        given = {name: stats.get(name) for name in ("successes", "failures", "errors")}
        bad = [name for name, value in given.items() if not isinstance(value, int) or isinstance(value, bool) or value < 0]
        if bad:
            raise SourceError(f"results.stats.{bad[0]}: {given[bad[0]]!r} is not a count")
        counts = {name: value for name, value in given.items() if isinstance(value, int)}  # all of them, by now
        config = _object(doc.get("config"))
        meta = _object(config.get("metadata"))
        version = str(meta.get(self.config.model_version_key) or self.config.default_model_version)
        dataset = self.config.default_dataset or str(config.get("description") or "promptfoo")
        wanted = set(self.config.metrics)

        def record(metric: str, value: float) -> EvalRecord:
            return EvalRecord(run_id=fit_identifier(eval_id, 200), metric=metric, value=value, observed_at=observed,
                              dataset=dataset, model_version=version)

        self.total = 2
        total = sum(counts.values())
        if total == 0:
            raise SourceError("results.stats: no test ran (successes + failures + errors = 0)")
        if not wanted or "pass_rate" in wanted:
            yield record("pass_rate", counts["successes"] / total)
        self.done = 1
        if not wanted or "score" in wanted:
            scores = []
            for i, result in enumerate(body["results"]):
                score = as_number(result.get("score")) if isinstance(result, dict) else None
                if score is None:
                    yield RowError(f"results.results[{i}].score", f"{result.get('score') if isinstance(result, dict) else result!r} is not a number")
                    continue
                scores.append(score)
            if scores:
                yield record("score", sum(scores) / len(scores))
        self.done = 2
