"""The documented shape of OpenAI's organisation costs report (``GET /v1/organization/costs``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from catalog.connectors.base import (
    Connector,
    CostRow,
    Http,
    Item,
    RowError,
    SourceError,
    is_url,
    parse_instant,
    read_json_document,
)

MAX_PAGES = 1000


class OpenAICostsConnector(Connector):
    kind = "openai_costs"
    produces = "cost"

    def _pages(self) -> Iterator[Any]:
        if not is_url(self.config.location):
            yield read_json_document(self.config)[0]
            return
        with Http(self.config) as http:
            url = self.config.location
            for _ in range(MAX_PAGES):
                page = http.json("GET", url)
                yield page
                if not (isinstance(page, dict) and page.get("has_more") and page.get("next_page")):
                    return
                parts = urlsplit(self.config.location)
                query = (parts.query + "&" if parts.query else "") + urlencode({"page": page["next_page"]})
                url = urlunsplit(parts._replace(query=query))

    def fetch(self) -> Iterator[Item]:
        for number, page in enumerate(self._pages()):
            if not isinstance(page, dict) or page.get("object") != "page" or not isinstance(page.get("data"), list):
                raise SourceError("not an OpenAI organisation costs page: expected {object: 'page', data: [...]}")
            for b, bucket in enumerate(page["data"]):
                where = f"page {number + 1} data[{b}]"
                start = parse_instant(bucket.get("start_time")) if isinstance(bucket, dict) else None
                end = parse_instant(bucket.get("end_time")) if isinstance(bucket, dict) else None
                if start is None or end is None or end <= start:
                    yield RowError(where, "start_time/end_time are not UNIX seconds with end after start")
                    continue
                results = bucket.get("results") or []
                if not isinstance(results, list):
                    yield RowError(f"{where}.results", "is not a list of results")
                    continue
                for r, result in enumerate(results):
                    amount = result.get("amount") if isinstance(result, dict) else None
                    try:
                        value = Decimal(str(amount["value"])) if isinstance(amount, dict) and not isinstance(amount.get("value"), bool) else None
                    except (InvalidOperation, KeyError):
                        value = None
                    # A value implies an amount object; the isinstance says so to the type checker.
                    if value is None or not value.is_finite() or not isinstance(amount, dict):
                        yield RowError(f"{where}.results[{r}].amount.value", f"{amount!r} is not a number")
                        continue
                    currency = str(amount.get("currency", "")).upper()
                    if len(currency) != 3 or not currency.isalpha():
                        yield RowError(f"{where}.results[{r}].amount.currency", f"{currency!r} is not a currency code")
                        continue
                    key = f"{bucket['start_time']}|{bucket['end_time']}|{result.get('line_item')}|{result.get('project_id')}"
                    self.done += 1
                    yield CostRow(
                        row_id=hashlib.sha256(key.encode()).hexdigest()[:40],
                        period_start=start,
                        period_end=end,
                        billed_cost=value,
                        effective_cost=value,
                        currency=currency,
                        service=str(result.get("line_item") or "OpenAI")[:200],
                        resource_id=str(result.get("project_id") or "")[:300],
                        charge_category="Usage",
                    )
