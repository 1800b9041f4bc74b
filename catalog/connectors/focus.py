"""FinOps FOCUS cost CSV (1.x), streamed row by row from a file or URL."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from catalog.connectors.base import (
    Connector,
    CostRow,
    Http,
    Ignored,
    Item,
    RowError,
    SourceError,
    allowed_path,
    is_url,
    month_of,
)
from clearance.untrusted import UntrustedInputError, load_json

# The columns a cost record cannot be built without (all mandatory in FOCUS 1.2). BillingCurrency
# may be left out when the source names a default currency.
REQUIRED = ("ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "EffectiveCost", "BillingCurrency")
REQUEST_UNITS = frozenset({"request", "requests", "api request", "api requests", "call", "calls", "api calls"})
US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
MAX_COST = Decimal("1e12")


@lru_cache(maxsize=4096)
def parse_focus_date(value: str) -> datetime | None:
    """ISO 8601 (UTC when no offset), or the M/D/YY dates some real exports write; None otherwise."""
    value = value.strip()
    match = US_DATE.match(value)
    if match:
        month, day, year = (int(g) for g in match.groups())
        try:
            return datetime(year + 2000 if year < 100 else year, month, day, tzinfo=UTC)
        except ValueError:
            return None
    try:
        moment = datetime.fromisoformat(value)
        # Year 1 at +14:00 is before year 1 in UTC: out of range, like any date that does not exist.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw)  # surrounding whitespace is allowed
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= MAX_COST:
        return None
    return value


class FocusConnector(Connector):
    """Every row is one charge. FOCUS rows carry no id, and two identical rows are two charges
    (two resources billed the same amount), so a row's id is a digest of all its cells; ingestion
    numbers repeated digests and treats a delivery as the truth for its billing periods."""

    kind = "focus"
    produces = "cost"
    replaces_billing_periods = True

    def _lines(self) -> Iterator[str]:
        if is_url(self.config.location):
            with Http(self.config) as http:
                http.bytes_read, http.bytes_total = 0, None
                for line in http.stream_lines(self.config.location):
                    self.done, self.total = http.bytes_read, http.bytes_total
                    yield line
            return
        path = allowed_path(self.config.location)
        self.total = path.stat().st_size
        # utf-8-sig drops the BOM some exports begin with; newline="" is what the csv module needs.
        # The text layer reads from ``raw``, whose position is the progress in bytes.
        with path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
            count = 0
            for line in handle:
                count += 1
                if count % 2000 == 0:
                    self.done = raw.tell()
                yield line
        self.done = self.total

    def fetch(self) -> Iterator[Item]:
        reader = csv.reader(self._lines())
        try:
            header = next(reader)
        except StopIteration:
            raise SourceError("the file is empty: a FOCUS CSV starts with a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(f"not a CSV file: {exc}") from exc
        header = [name.strip() for name in header]
        default_currency = self.config.default_currency.strip().upper()
        required = [name for name in REQUIRED if not (name == "BillingCurrency" and default_currency)]
        missing = [name for name in required if name not in header]
        if missing:
            hint = " (or set the source's default currency)" if "BillingCurrency" in missing else ""
            raise SourceError(f"missing required FOCUS column(s): {', '.join(missing)}{hint} "
                              f"(header has {len(header)} columns)")
        col = {name: i for i, name in enumerate(header)}
        i_bstart, i_bend = col.get("BillingPeriodStart"), col.get("BillingPeriodEnd")
        if (i_bstart is None) != (i_bend is None):
            present = "BillingPeriodStart" if i_bstart is not None else "BillingPeriodEnd"
            raise SourceError(f"the header has {present} without its pair: BillingPeriodStart and BillingPeriodEnd "
                              "come together")
        # A row's id digests every cell in the order of the sorted header, so the same charge in a
        # re-exported file with its columns reordered keeps its id.
        order = sorted(range(len(header)), key=header.__getitem__)
        header_key = "\x1f".join(header[i] for i in order) + "\x1e"
        i_start, i_end = col["ChargePeriodStart"], col["ChargePeriodEnd"]
        i_billed, i_eff, i_cur = col["BilledCost"], col["EffectiveCost"], col.get("BillingCurrency")
        i_service, i_resource, i_cat = col.get("ServiceName"), col.get("ResourceId"), col.get("ChargeCategory")
        i_qty, i_unit, i_tags = col.get("ConsumedQuantity"), col.get("ConsumedUnit"), col.get("Tags")
        tag_key, slug = self.config.tag_key, self.config.system_slug
        width = len(header)

        def billing_period(row: list[str], start: datetime | None) -> tuple[datetime, datetime] | str:
            """The row's billing period, or why it has none."""
            if i_bstart is None or i_bend is None:
                return month_of(start) if start is not None else "ChargePeriodStart: cannot parse the date"
            bstart, bend = parse_focus_date(row[i_bstart]), parse_focus_date(row[i_bend])
            if bstart is None:
                return f"BillingPeriodStart: cannot parse the date {row[i_bstart]!r}"
            if bend is None:
                return f"BillingPeriodEnd: cannot parse the date {row[i_bend]!r}"
            if bend <= bstart:
                return "BillingPeriodEnd must be after BillingPeriodStart"
            return bstart, bend

        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise SourceError(f"row {reader.line_num}: the CSV cannot be read further: {exc}") from exc
            where = f"row {reader.line_num}"
            if not row:
                continue
            if len(row) != width:
                yield RowError(where, f"has {len(row)} fields, the header has {width}")
                continue
            if tag_key:
                raw_tags = row[i_tags] if i_tags is not None else ""
                try:
                    tags = load_json(raw_tags, allow_non_finite=True) if raw_tags.strip() else {}
                except UntrustedInputError:
                    yield RowError(where, f"Tags is not a JSON object: {raw_tags[:60]!r}")
                    continue
                if not isinstance(tags, dict) or str(tags.get(tag_key, "")) != slug:
                    period = billing_period(row, parse_focus_date(row[i_start]))
                    yield Ignored(f"Tags.{tag_key} is not {slug}", period=period if isinstance(period, tuple) else None)
                    continue
            start, end = parse_focus_date(row[i_start]), parse_focus_date(row[i_end])
            if start is None:
                yield RowError(where, f"ChargePeriodStart: cannot parse the date {row[i_start]!r}")
                continue
            if end is None:
                yield RowError(where, f"ChargePeriodEnd: cannot parse the date {row[i_end]!r}")
                continue
            if end <= start:
                yield RowError(where, "ChargePeriodEnd must be after ChargePeriodStart")
                continue
            period = billing_period(row, start)
            if isinstance(period, str):
                yield RowError(where, period)
                continue
            billed, effective = _decimal(row[i_billed]), _decimal(row[i_eff])
            if billed is None:
                yield RowError(where, f"BilledCost: {row[i_billed]!r} is not a number")
                continue
            if effective is None:
                yield RowError(where, f"EffectiveCost: {row[i_eff]!r} is not a number")
                continue
            raw_currency = row[i_cur] if i_cur is not None else ""
            currency = raw_currency.strip().upper() or default_currency
            if len(currency) != 3 or not currency.isalpha():
                yield RowError(where, f"BillingCurrency: {raw_currency!r} is not an ISO 4217 code")
                continue
            requests = None
            if i_unit is not None and i_qty is not None and row[i_unit].strip().lower() in REQUEST_UNITS:
                quantity = _decimal(row[i_qty])
                if quantity is None or quantity < 0:
                    yield RowError(where, f"ConsumedQuantity: {row[i_qty]!r} is not a count of requests")
                    continue
                requests = int(quantity)
            key = header_key + "\x1f".join(row[i] for i in order) + "\x1e" + currency
            yield CostRow(
                row_id=hashlib.sha256(key.encode()).hexdigest()[:40],
                period_start=start,
                period_end=end,
                billed_cost=billed,
                effective_cost=effective,
                currency=currency,
                service=row[i_service][:200] if i_service is not None else "",
                resource_id=row[i_resource][:300] if i_resource is not None else "",
                charge_category=row[i_cat][:30] if i_cat is not None else "",
                request_count=requests,
                billing_period_start=period[0],
                billing_period_end=period[1],
            )
