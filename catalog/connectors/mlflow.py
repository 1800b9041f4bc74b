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
from clearance.untrusted import fit_identifier, text_problem

PAGE = 200
MAX_PAGES = 500


def _ms(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    try:
        millis = int(value)
        return datetime.fromtimestamp(millis / 1000, tz=UTC) if millis > 0 else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _pairs(items: Any) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {str(i.get("key")): str(i.get("value", "")) for i in items if isinstance(i, dict)}


def _object(value: Any) -> dict[str, Any]:
    """A JSON object from the server's answer, or an empty one: what MLflow omits (or garbles)
    reads as absent, and the caller decides whether that is an error."""
    return value if isinstance(value, dict) else {}


def _token(body: dict[str, Any], what: str) -> str | None:
    token = body.get("next_page_token")
    if token in (None, ""):
        return None
    if not isinstance(token, str) or text_problem(token):
        raise SourceError(f"MLflow {what} answered a next_page_token that is not a plain string")
    return token


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
        experiment_id = _object(body.get("experiment")).get("experiment_id")
        if (not isinstance(experiment_id, str | int) or isinstance(experiment_id, bool) or not str(experiment_id)
                or text_problem(str(experiment_id))):
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
            token = _token(body, "runs/search")
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
            metrics = body.get("metrics", [])
            if not isinstance(metrics, list):
                raise SourceError("MLflow metrics/get-history did not answer {metrics: [...]}")
            yield from metrics
            token = _token(body, "metrics/get-history")
            if not token:
                return

    def fetch(self) -> Iterator[Item]:
        wanted = set(self.config.metrics)
        with Http(self.config) as http:
            experiment_id = self._experiment_id(http)
            for run in self._runs(http, experiment_id):
                self.done += 1
                if not isinstance(run, dict):
                    yield RowError(f"run #{self.done}", "is not an object")
                    continue
                info, data = _object(run.get("info")), _object(run.get("data"))
                run_id = str(info.get("run_id") or info.get("run_uuid") or "")
                if not run_id:
                    yield RowError(f"run #{self.done}", "has no run_id")
                    continue
                if text_problem(run_id):
                    # It would go back to the server in a URL: refused before it is sent.
                    yield RowError(f"run #{self.done}", f"the run_id {text_problem(run_id)}")
                    continue
                if info.get("status") != "FINISHED":
                    yield Ignored(f"run {run_id} is {info.get('status')}, not FINISHED")
                    continue
                tags, params = _pairs(data.get("tags")), _pairs(data.get("params"))
                version = (tags.get(self.config.model_version_key) or params.get(self.config.model_version_key)
                           or self.config.default_model_version)
                dataset = (tags.get(self.config.dataset_key) or params.get(self.config.dataset_key)
                           or self.config.default_dataset)
                raw_metrics = data.get("metrics")
                metrics: list[Any] = raw_metrics if isinstance(raw_metrics, list) else []
                keys = sorted({str(m.get("key")) for m in metrics if isinstance(m, dict)})
                for key in keys:
                    if wanted and key not in wanted:
                        continue
                    if text_problem(key):
                        yield RowError(f"run {run_id} metric #{keys.index(key) + 1}", f"the metric name {text_problem(key)}")
                        continue
                    for point in self._history(http, run_id, key):
                        if not isinstance(point, dict):
                            yield RowError(f"run {run_id} metric {key}", "a history point is not an object")
                            continue
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
                        except (TypeError, ValueError, OverflowError):
                            yield RowError(where, "step is not an integer")
                            continue
                        yield EvalRecord(run_id=fit_identifier(run_id, 200), metric=key, value=value,
                                         observed_at=observed, step=step, dataset=dataset, model_version=version)
