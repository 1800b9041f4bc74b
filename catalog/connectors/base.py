"""The connector interface and what every connector shares: the records it yields, the errors it
raises, and the only two ways it reaches its input (a file inside an allowed directory, or an
http(s) URL whose redirects never leave the configured host, and which never reaches a loopback,
link-local, private or multicast address unless the host is in ``EVIDENCE_ALLOWED_HOSTS``).

A connector is a small class: ``fetch()`` yields normalized records (``EvalRecord`` or ``CostRow``),
``RowError`` for input it rejects (with where and why) and ``Ignored`` for input that is fine but
not evidence for this system. It knows nothing of the ORM: it reads a ``SourceConfig`` snapshot.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from clearance.untrusted import UntrustedInputError, load_json


class SourceError(Exception):
    """The source answered, but not with what was declared (wrong format, missing column): the run fails."""


class SourceUnavailable(SourceError):
    """The source could not be reached or timed out: the run fails, and the task may retry later."""


class LocationRefused(SourceError):
    """The location is not one the admin allowed (a path outside the allowed directories, a redirect
    to another host): refused before anything is read."""


@dataclass(frozen=True, slots=True)
class EvalRecord:
    run_id: str
    metric: str
    value: float
    observed_at: datetime
    step: int = 0
    dataset: str = ""
    model_version: str = ""


@dataclass(frozen=True, slots=True)
class CostRow:
    row_id: str
    period_start: datetime
    period_end: datetime
    billed_cost: Decimal
    effective_cost: Decimal
    currency: str
    service: str = ""
    resource_id: str = ""
    charge_category: str = ""
    request_count: int | None = None
    # The billing period the charge belongs to; None means the calendar month (UTC) of period_start.
    billing_period_start: datetime | None = None
    billing_period_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    where: str  # "row 12" for CSV, a JSON path for JSON documents
    reason: str


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str
    # The billing period of an ignored cost row: the delivery still covers that period.
    period: tuple[datetime, datetime] | None = None


Item = EvalRecord | CostRow | RowError | Ignored


@dataclass(frozen=True)
class SourceConfig:
    """What a connector may know about its source: plain data, the secret already resolved."""

    kind: str
    location: str
    system_slug: str
    experiment: str = ""
    run_filter: str = ""
    metrics: tuple[str, ...] = ()
    model_version_key: str = "model_version"
    dataset_key: str = "dataset"
    default_model_version: str = ""
    default_dataset: str = ""
    tag_key: str = ""
    default_currency: str = ""
    auth_kind: str = "none"
    username: str = ""
    secret: str = field(default="", repr=False)


class Connector:
    """fetch() → normalized records. ``done``/``total`` report progress in the connector's own unit."""

    kind: ClassVar[str]
    produces: ClassVar[str]  # "eval" or "cost"
    # A delivery is the whole truth for the billing periods it covers: ingestion replaces the
    # source's rows of those periods instead of only adding new ones.
    replaces_billing_periods: ClassVar[bool] = False

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.done = 0
        self.total: int | None = None

    def fetch(self) -> Iterator[Item]:
        raise NotImplementedError


# --- where input comes from -------------------------------------------------------------------------


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def allowed_path(location: str) -> Path:
    """The file a location names, if it lies inside an allowed directory (symlinks resolved)."""
    raw = location[len("file://"):] if location.startswith("file://") else location
    if not raw or not os.path.isabs(raw):
        raise LocationRefused(f"{location!r} is neither an http(s) URL nor an absolute file path")
    path = Path(raw).resolve()
    roots = [Path(d).resolve() for d in settings.EVIDENCE_ALLOWED_DIRS]
    if not any(path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "none configured"
        raise LocationRefused(f"the file {path} is outside the allowed directories ({allowed})")
    if not path.is_file():
        raise SourceUnavailable(f"the file {path} does not exist")
    return path


# The setting that lists the internal hosts a server-side fetch may reach. Evidence sources read
# EVIDENCE_ALLOWED_HOSTS; outgoing webhooks pass WEBHOOK_ALLOWED_HOSTS, so allowing a fetch from an
# internal server does not also allow posting events to it.
EVIDENCE_HOSTS = "EVIDENCE_ALLOWED_HOSTS"


def host_allowed(host: str, port: int | None, setting: str = EVIDENCE_HOSTS) -> bool:
    allowed = {h.strip().lower() for h in getattr(settings, setting) if h.strip()}
    return host.lower() in allowed or f"{host.lower()}:{port}" in allowed


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address is not one a source may reach, or "" for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for test, what in ((address.is_loopback, "loopback"), (address.is_link_local, "link-local"),
                       (address.is_multicast, "multicast"), (address.is_unspecified, "unspecified"),
                       (address.is_private, "private"), (address.is_reserved, "reserved"),
                       (not address.is_global, "non-public")):
        if test:
            return what
    return ""


def resolve_public(host: str, port: int | None, *, setting: str = EVIDENCE_HOSTS) -> str | None:
    """The address to connect to for ``host``: None when the host is explicitly allowed (connect by
    name), else its first resolved address after checking that every address it resolves to is
    public or itself listed in ``EVIDENCE_ALLOWED_HOSTS`` (or the list ``setting`` names). Every address is checked, not only the one used, so a name with one public and one
    private record is refused rather than left to the resolver's order."""
    if host_allowed(host, port, setting):
        return None
    try:
        infos = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceUnavailable(f"could not resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise SourceUnavailable(f"could not resolve {host}")
    for address in addresses:
        why = _refusal(address)
        if why and not host_allowed(str(address), port, setting):
            shown = host if host == str(address) else f"{host} ({address})"
            raise LocationRefused(
                f"{shown} is a {why} address; Clearance does not fetch from internal addresses unless the "
                f"administrator lists the host in {setting}"
            )
    return str(addresses[0])


def _literal_refusal(host: str, port: int | None, setting: str = EVIDENCE_HOSTS) -> None:
    """At save time: refuse an address literal or a name that resolves to an internal address. A name
    that does not resolve now is left to the fetch, which checks again."""
    try:
        resolve_public(host, port, setting=setting)
    except SourceUnavailable:
        return


def check_public_url(location: str, *, setting: str = EVIDENCE_HOSTS) -> None:
    """Validate an http(s) URL as configured: it has a host and a valid port, and the host is not an
    internal address unless ``setting`` lists it. Raises LocationRefused."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https"):
        raise LocationRefused(f"{location!r} is not an http(s) URL")
    if not parts.hostname:
        raise LocationRefused(f"{location!r} has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise LocationRefused(f"{location!r} has an invalid port") from exc
    _literal_refusal(parts.hostname, port or (443 if parts.scheme == "https" else 80), setting)


def check_location(location: str) -> None:
    """Validate a location as configured (forms call this): URL scheme and host (not an internal
    address), or an allowed path."""
    if is_url(location):
        check_public_url(location)
        return
    if urlsplit(location).scheme not in ("", "file"):
        raise LocationRefused(f"{location!r}: only http(s) URLs and files are supported")
    raw = location[len("file://"):] if location.startswith("file://") else location
    path = Path(raw).resolve() if os.path.isabs(raw) else None
    roots = [Path(d).resolve() for d in settings.EVIDENCE_ALLOWED_DIRS]
    if path is None or not any(path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "none configured"
        raise LocationRefused(f"files must lie inside the allowed directories ({allowed})")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


class Http:
    """An HTTP client that follows redirects only within the configured origin and turns every
    failure into a SourceError with a readable reason."""

    MAX_REDIRECTS = 5

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.origin = _origin(config.location)
        headers = {"Accept": "application/json, text/csv;q=0.9, */*;q=0.1", "User-Agent": "Clearance evidence sync"}
        auth = None
        if config.auth_kind == "bearer" and config.secret:
            headers["Authorization"] = f"Bearer {config.secret}"
        elif config.auth_kind == "basic":
            auth = httpx.BasicAuth(config.username, config.secret)
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.EVIDENCE_HTTP_TIMEOUT), follow_redirects=False, headers=headers, auth=auth
        )

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send, following same-origin redirects; the caller must close the (streamed) response."""
        for _ in range(self.MAX_REDIRECTS + 1):
            if _origin(url) != self.origin:
                raise LocationRefused(
                    f"refused to follow a redirect to {urlsplit(url).scheme}://{urlsplit(url).netloc}: "
                    f"only {self.origin[0]}://{self.origin[1]}:{self.origin[2]} is configured"
                )
            try:
                request = self._pinned_request(method, url, **kwargs)
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise SourceUnavailable(
                    f"{urlsplit(url).netloc} did not answer within {settings.EVIDENCE_HTTP_TIMEOUT:g} s"
                ) from exc
            except httpx.HTTPError as exc:
                raise SourceUnavailable(f"could not reach {urlsplit(url).netloc}: {exc}") from exc
            if response.is_redirect:
                response.close()
                url = urljoin(url, response.headers.get("location", ""))
                if method == "POST" and response.status_code in (301, 302, 303):
                    method, kwargs = "GET", {k: v for k, v in kwargs.items() if k != "json"}
                continue
            if response.status_code >= 400:
                try:
                    body = response.read()[:500].decode("utf-8", "replace")
                finally:
                    response.close()
                where = urlsplit(url).netloc
                if response.status_code in (401, 403):
                    raise SourceError(f"{where} refused the credentials (HTTP {response.status_code})")
                if response.status_code >= 500 or response.status_code == 429:
                    raise SourceUnavailable(f"{where} answered HTTP {response.status_code}")
                raise SourceError(f"{where} answered HTTP {response.status_code}: {body.strip()[:300]}")
            return response
        raise SourceError(f"more than {self.MAX_REDIRECTS} redirects")

    def _pinned_request(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        return pinned_request(self.client, method, url, **kwargs)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._send(method, url, **kwargs)
        self.last_modified = _http_date(response.headers.get("last-modified"))
        try:
            body = _read_capped(response.iter_bytes(), settings.EVIDENCE_MAX_JSON_BYTES, url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"{urlsplit(url).netloc} stopped answering mid-response") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"reading from {urlsplit(url).netloc} failed: {exc}") from exc
        finally:
            response.close()
        return parse_json(body, url)

    def stream_lines(self, url: str) -> Iterator[str]:
        """The body as text lines, streamed (a BOM is dropped); updates ``bytes_read``/``bytes_total``."""
        response = self._send("GET", url)
        self.bytes_total = int(response.headers["content-length"]) if "content-length" in response.headers else None
        try:
            first = True
            for line in response.iter_lines():
                self.bytes_read = response.num_bytes_downloaded
                if first:
                    line, first = line.removeprefix("\ufeff"), False
                yield line
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"{urlsplit(url).netloc} stopped answering mid-file") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"reading from {urlsplit(url).netloc} failed: {exc}") from exc
        finally:
            response.close()


def pinned_request(client: httpx.Client, method: str, url: str, *, setting: str = EVIDENCE_HOSTS,
                   **kwargs: Any) -> httpx.Request:
    """The request, sent to the address checked here rather than to the name: the connection
    goes to that address literal, so a DNS answer that changes between the check and the
    connect (rebinding) cannot move it to an internal one. The Host header and TLS server
    name stay the original host, so virtual hosting and certificate checks are unchanged."""
    request = client.build_request(method, url, **kwargs)
    host = request.url.host
    address = resolve_public(host, request.url.port or (443 if request.url.scheme == "https" else 80), setting=setting)
    if address is None or address == host:
        return request
    request.url = request.url.copy_with(host=address)
    if request.url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": host}
    return request


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_capped(chunks: Any, limit: int, where: str) -> bytes:
    buf = bytearray()
    for chunk in chunks:
        buf.extend(chunk)
        if len(buf) > limit:
            raise SourceError(f"{where} is larger than {limit // 1_000_000} MB; refused")
    return bytes(buf)


def parse_json(body: bytes, where: str) -> Any:
    """A JSON document, nested at most MAX_DEPTH deep (deeper is refused before the parser could
    exhaust the stack). NaN and Infinity parse: some tools write them for an undefined metric, and
    each value is judged on its own (``as_number``)."""
    try:
        return load_json(body, allow_non_finite=True)
    except UntrustedInputError as exc:
        raise SourceError(f"{where} is not valid JSON: {exc.message}") from exc


def read_json_document(config: SourceConfig) -> tuple[Any, datetime | None]:
    """A whole JSON document from a file or URL, with the file's modification time (a file's mtime,
    a URL's Last-Modified) for documents that do not say when they were produced."""
    if is_url(config.location):
        with Http(config) as http:
            return http.json("GET", config.location), http.last_modified
    path = allowed_path(config.location)
    if path.stat().st_size > settings.EVIDENCE_MAX_JSON_BYTES:
        raise SourceError(f"{path.name} is larger than {settings.EVIDENCE_MAX_JSON_BYTES // 1_000_000} MB; refused")
    return parse_json(path.read_bytes(), path.name), datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def month_of(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding a moment: the billing period of a cost row whose source does not say."""
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def as_number(value: Any) -> float | None:
    """A finite float, or None for anything else (strings, booleans, NaN, infinities)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 string (naive means UTC) or UNIX seconds; None when it does not parse."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
            # In UTC, so an instant outside the representable years (year 1 at +14:00) is refused here.
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            return None
    return None
