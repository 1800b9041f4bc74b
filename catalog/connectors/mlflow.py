"""An MLflow tracking server, over its REST API (``/api/2.0/mlflow/``) with a plain HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from catalog.connectors.base import (
    Connector,
    EvalRecord,
    Http,
    Ignored,
    Item,
    RowError,
    SourceError,
    as_number,
)

PAGE = 200
MAX_PAGES = 500


def _ms(value: Any) -> datetime | None:
    try:
        millis = int(value)
    except (TypeError, ValueError):
        return None
    if millis <= 0:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _pairs(items: Any) -> dict[str, str]:
    return {str(i.get("key")): str(i.get("value", "")) for i in items or [] if isinstance(i, dict)}


class MlflowConnector(Connector):
    kind = "mlflow"
    produces = "eval"

    def _api(self, path: str) -> str:
        return self.config.location.rstrip("/") + "/api/2.0/mlflow/" + path

    def _get(self, http: Http, path: str, **params: Any) -> dict[str, Any]:
        body = http.json("GET", self._api(path), params=params)
        if not isinstance(body, dict):
            raise SourceError(f"MLflow {path} did not answer a JSON object")
        return body

    def _experiment_id(self, http: Http) -> str:
        name = self.config.experiment.strip()
        if not name:
            raise SourceError("experiment: name the MLflow experiment to read")
        if name.isdigit():
            return name
        try:
            body = self._get(http, "experiments/get-by-name", experiment_name=name)
        except SourceError as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc):
                raise SourceError(f"MLflow has no experiment named {name!r}") from exc
            raise
        experiment_id = (body.get("experiment") or {}).get("experiment_id")
        if not experiment_id:
            raise SourceError("MLflow experiments/get-by-name answered without an experiment id")
        return str(experiment_id)

    def _runs(self, http: Http, experiment_id: str) -> Iterator[dict[str, Any]]:
        token = None
        for _ in range(MAX_PAGES):
            payload: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "filter": self.config.run_filter,
                "run_view_type": "ACTIVE_ONLY",
                "max_results": PAGE,
                "order_by": ["attributes.start_time ASC"],
            }
            if token:
                payload["page_token"] = token
            body = http.json("POST", self._api("runs/search"), json=payload)
            if not isinstance(body, dict) or not isinstance(body.get("runs", []), list):
                raise SourceError("MLflow runs/search did not answer {runs: [...]}")
            yield from body.get("runs", [])  # an empty result is {} (MLflow omits empty lists)
            token = body.get("next_page_token")
            if not token:
                return
        raise SourceError(f"more than {MAX_PAGES * PAGE} runs match; narrow the filter")

    def _history(self, http: Http, run_id: str, key: str) -> Iterator[dict[str, Any]]:
        token = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                params["page_token"] = token
            body = self._get(http, "metrics/get-history", **params)
            yield from body.get("metrics", [])
            token = body.get("next_page_token")
            if not token:
                return

    def fetch(self) -> Iterator[Item]:
        wanted = set(self.config.metrics)
        with Http(self.config) as http:
            experiment_id = self._experiment_id(http)
            for run in self._runs(http, experiment_id):
                self.done += 1
                info, data = run.get("info") or {}, run.get("data") or {}
                run_id = str(info.get("run_id") or info.get("run_uuid") or "")
                if not run_id:
                    yield RowError(f"run #{self.done}", "has no run_id")
                    continue
                if info.get("status") != "FINISHED":
                    yield Ignored(f"run {run_id} is {info.get('status')}, not FINISHED")
                    continue
                tags, params = _pairs(data.get("tags")), _pairs(data.get("params"))
                version = (tags.get(self.config.model_version_key) or params.get(self.config.model_version_key)
                           or self.config.default_model_version)
                dataset = (tags.get(self.config.dataset_key) or params.get(self.config.dataset_key)
                           or self.config.default_dataset)
                keys = sorted({str(m.get("key")) for m in data.get("metrics") or [] if isinstance(m, dict)})
                for key in keys:
                    if wanted and key not in wanted:
                        continue
                    for point in self._history(http, run_id, key):
                        where = f"run {run_id} metric {key} step {point.get('step', 0)}"
                        value = as_number(point.get("value"))
                        if value is None:
                            yield RowError(where, f"value {point.get('value')!r} is not a number")
                            continue
                        observed = _ms(point.get("timestamp"))
                        if observed is None:
                            yield RowError(where, f"timestamp {point.get('timestamp')!r} is not epoch milliseconds")
                            continue
                        try:
                            step = int(point.get("step", 0) or 0)
                        except (TypeError, ValueError):
                            yield RowError(where, "step is not an integer")
                            continue
                        yield EvalRecord(run_id=run_id, metric=key[:100], value=value, observed_at=observed,
                                         step=step, dataset=dataset[:200], model_version=version[:100])
