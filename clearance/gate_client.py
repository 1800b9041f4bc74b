"""clearance-check: ask the Clearance deployment gate whether a deploy may go ahead.

Standard library only, so CI can download this single file and run it as-is::

    export CLEARANCE_URL=https://clearance.example.com
    export CLEARANCE_TOKEN=...            # a gate token scoped to the system
    python3 clearance_check.py --system support-copilot --environment production \\
        --deploy-version 1.4.2 --format json --output clearance-report.json

or, inside the project, via the ``clearance-check`` console script.

Exit codes: 0 only if the server answered 200 with a well-formed body whose verdict is
exactly "pass"; 1 if the verdict is "block"; 2 for anything else (bad arguments, missing
URL/token, network failure, timeout, HTTP error, malformed response).

``--commit`` defaults to $GITHUB_SHA or $CI_COMMIT_SHA and ``--pipeline-url`` to the
GitHub Actions run URL or $CI_PIPELINE_URL. Under GitHub Actions unmet requirements are
also emitted as ``::error`` annotations and a Markdown table is appended to
$GITHUB_STEP_SUMMARY. Use ``--output`` when you need machine-readable output there, as the
annotations share stdout.

``--attestation FILE`` asks the server for a signed attestation of the verdict (an in-toto
statement in a DSSE envelope) and saves it. ``clearance-check verify FILE`` checks a saved
attestation offline against the server's published keys (``--keys FILE`` or the URL); it needs
the ``cryptography`` package, which the gate itself does not (exit 3 when it is missing).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import http.client
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any
from xml.etree import ElementTree as ET

__version__ = "0.3.0"

ENDPOINT_PATH = "/api/v1/gate/checks"
EXIT_PASS, EXIT_BLOCK, EXIT_ERROR = 0, 1, 2
VERDICTS = ("pass", "block")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
SATISFIED = frozenset({"met", "waived", "not_applicable"})
MARKERS = {"met": "[met]", "waived": "[waived]", "not_applicable": "[n/a]"}
HINTS = {
    401: "check the token (--token / CLEARANCE_TOKEN)",
    403: "the token is not allowed to check this system/environment",
    404: "check --system, --environment and --url",
    429: "rate limited by the gate",
}
MAX_BODY = 5 * 1024 * 1024
FORMATS = ("text", "json", "junit", "sarif", "github", "gitlab")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Requirement severity -> SARIF level and GitLab code-quality severity.
SARIF_LEVELS = {"critical": "error", "major": "error", "minor": "warning"}
GITLAB_SEVERITIES = {"critical": "blocker", "major": "major", "minor": "minor"}
MAX_RETRY_AFTER = 30.0
# Attestations (docs/attestations.md).
KEYS_PATH = "/.well-known/clearance/gate-keys.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://clearance.dev/attestations/gate-verdict/v1"
VERIFIED, NOT_VERIFIED, VERIFY_ERROR, NEEDS_CRYPTOGRAPHY = 0, 1, 2, 3


class GateError(Exception):
    """Anything that is not a well-formed verdict; always exit code 2."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 fields: dict[str, Any] | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.code, self.fields = message, status, code, fields or {}
        self.retryable, self.retry_after, self.attempts = retryable, retry_after, 1

    def describe(self) -> str:
        text = f"HTTP {self.status}: {self.message}" if self.status else self.message
        if self.code:
            text += f" (code: {self.code})"
        if self.status in HINTS:
            text += f"; {HINTS[self.status]}"
        if self.attempts > 1:
            text += f" [gave up after {self.attempts} attempts]"
        for field, problems in self.fields.items():
            msgs = problems if isinstance(problems, list) else [problems]
            text += f"\n  {field}: " + "; ".join(str(m) for m in msgs)
        return text

    def as_json(self) -> dict[str, Any]:
        error = {"code": self.code or "client_error", "message": self.message, "fields": self.fields}
        return {"error": error, "http_status": self.status, "exit_code": EXIT_ERROR}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: urllib would turn the POST into a GET and forward the token."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def default_pipeline_url() -> str | None:
    server, repo, run = _env("GITHUB_SERVER_URL"), _env("GITHUB_REPOSITORY"), _env("GITHUB_RUN_ID")
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return _env("CI_PIPELINE_URL")


def endpoint_for(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GateError(f"--url must be an http(s) URL, got {base_url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(ENDPOINT_PATH):
        path += ENDPOINT_PATH
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _snippet(raw: bytes, limit: int = 200) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


def _http_error(exc: urllib.error.HTTPError) -> GateError:
    status = exc.code
    try:
        raw = exc.read(MAX_BODY)
    except (OSError, http.client.HTTPException):
        raw = b""
    code: str | None = None
    message = ""
    fields: dict[str, Any] = {}
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        err = doc["error"]
        message, code = str(err.get("message") or ""), (str(err["code"]) if err.get("code") else None)
        fields = err["fields"] if isinstance(err.get("fields"), dict) else {}
    elif isinstance(doc, dict) and doc.get("detail"):
        message = str(doc["detail"])
    if 300 <= status < 400:
        message = f"redirected to {exc.headers.get('Location')}; set --url to the final address"
    if not message:
        message = _snippet(raw) or str(exc.reason)
    return GateError(message, status=status, code=code, fields=fields,
                     retryable=status in RETRY_STATUSES,
                     retry_after=_retry_after(exc.headers.get("Retry-After")))


def validate(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise GateError("malformed gate response: expected a JSON object", status=200)
    if doc.get("verdict") not in VERDICTS:
        raise GateError(f"malformed gate response: unknown verdict {doc.get('verdict')!r}", status=200)
    reqs = doc.get("requirements")
    if not isinstance(reqs, list) or not all(isinstance(r, dict) for r in reqs):
        raise GateError("malformed gate response: 'requirements' must be a list of objects", status=200)
    if doc["verdict"] == "pass" and any(r.get("status") not in SATISFIED for r in reqs):
        raise GateError("inconsistent gate response: verdict pass with an unmet requirement", status=200)
    return doc


def send_once(endpoint: str, token: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(endpoint, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"clearance-check/{__version__}",
    })
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        raise _http_error(exc) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise GateError(f"no answer from {endpoint} within {timeout:g}s", retryable=True) from None
        raise GateError(f"cannot reach {endpoint}: {exc.reason}", retryable=True) from None
    except TimeoutError:
        raise GateError(f"no answer from {endpoint} within {timeout:g}s", retryable=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise GateError(f"connection to {endpoint} failed: {exc!r}", retryable=True) from None
    if status != 200:
        raise GateError(f"unexpected response (expected 200): {_snippet(raw)}", status=status)
    try:
        return validate(json.loads(raw))
    except ValueError:  # also covers undecodable bytes
        raise GateError(f"gate response is not JSON: {_snippet(raw)!r}", status=200) from None


def check(endpoint: str, token: str, body: dict[str, Any], *, timeout: float, retries: int,
          backoff: float) -> dict[str, Any]:
    """POST the check, retrying connection errors, timeouts, 429 and 502/503/504."""
    attempt = 0
    while True:
        try:
            return send_once(endpoint, token, body, timeout)
        except GateError as exc:
            if not exc.retryable or attempt >= retries:
                exc.attempts = attempt + 1
                raise
            delay = backoff * 2**attempt + random.uniform(0, backoff)  # noqa: S311 - jitter, not crypto
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
            _stderr(f"warning: attempt {attempt + 1} failed: {exc.describe()}; retrying in {delay:.2f}s",
                    token)
            time.sleep(delay)
            attempt += 1


def _marker(status: str) -> str:
    return MARKERS.get(status, f"[{(status or 'unknown').upper()}]")


def _policy_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The answer's policy block, or an empty one when the server sent none (or not an object)."""
    policy = doc.get("policy")
    return policy if isinstance(policy, dict) else {}


def format_text(doc: dict[str, Any]) -> str:
    policy = _policy_of(doc)
    reqs = doc["requirements"]
    lines = [f"Clearance gate: {doc['verdict'].upper()}  system={doc.get('system', '?')} "
             f"environment={doc.get('environment', '?')} "
             f"policy={policy.get('name', '?')}@{str(policy.get('version', '?'))[:12]}"]
    width = max([len(_marker(str(r.get("status", "")))) for r in reqs] + [5])
    for req in reqs:
        status = str(req.get("status", ""))
        title, message = str(req.get("title") or ""), str(req.get("message") or "")
        text = f"{title}: {message}" if title and message and message != title else title or message
        lines.append(f"  {_marker(status):<{width}}  {req.get('id', '?')}  {text}")
        if status not in SATISFIED and req.get("since"):
            lines.append(f"  {'':<{width}}    since: {req['since']}")
        if status not in SATISFIED and req.get("fix"):
            lines.append(f"  {'':<{width}}    fix: {req['fix']}")
        if status not in SATISFIED and req.get("fix_url"):
            lines.append(f"  {'':<{width}}    at: {req['fix_url']}")
    for warning in doc.get("warnings") or []:
        lines.append(f"  WARNING: {warning}")
    unmet = sum(1 for r in reqs if r.get("status") not in SATISFIED)
    lines.append(f"{len(reqs) - unmet} of {len(reqs)} requirements satisfied")
    if doc.get("url"):
        lines.append(f"Details: {doc['url']}")
    return "\n".join(lines) + "\n"


def _gh_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(value: str) -> str:
    return _gh_data(value).replace(":", "%3A").replace(",", "%2C")


def _md(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def github_annotations(doc: dict[str, Any]) -> list[str]:
    lines = []
    for req in doc["requirements"]:
        if req.get("status") not in SATISFIED:
            text = str(req.get("message") or req.get("title") or req.get("status"))
            if req.get("fix"):
                text += f" — fix: {req['fix']}"
            lines.append(f"::error title={_gh_prop(str(req.get('id', '?')))}::{_gh_data(text)}")
    if doc["verdict"] == "block" and not lines:
        lines.append(f"::error title=Clearance gate::{_gh_data('Deployment blocked; see ' + str(doc.get('url')))}")
    return lines


def github_summary(doc: dict[str, Any]) -> str:
    icon = "✅" if doc["verdict"] == "pass" else "❌"
    policy = _policy_of(doc)
    out = [f"### {icon} Clearance gate: {doc['verdict'].upper()}", "",
           f"System `{_md(doc.get('system'))}` · environment `{_md(doc.get('environment'))}` · "
           f"policy `{_md(policy.get('name'))}@{_md(str(policy.get('version', ''))[:12])}`", "",
           "| Status | Requirement | Details | Fix |", "| --- | --- | --- | --- |"]
    for req in doc["requirements"]:
        ok = req.get("status") in SATISFIED
        fix = "" if ok else _md(req.get("fix"))
        if not ok and req.get("fix_url"):
            fix += f" [fix it]({req['fix_url']})"
        if not ok and req.get("since"):
            fix += f" (unmet since {_md(req['since'])})"
        out.append(f"| {'✅' if ok else '❌'} {_md(req.get('status'))} | {_md(req.get('id'))} "
                   f"{_md(req.get('title'))} | {_md(req.get('message'))} | {fix} |")
    for warning in doc.get("warnings") or []:
        out += ["", f"> ⚠️ {_md(warning)}"]
    if doc.get("url"):
        out += ["", f"[Readiness page]({doc['url']})"]
    return "\n".join(out) + "\n\n"


def _unmet(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["requirements"] if r.get("status") not in SATISFIED]


def _finding(req: dict[str, Any]) -> str:
    text = str(req.get("message") or req.get("title") or req.get("status"))
    if req.get("since"):
        text += f" (since {req['since']})"
    if req.get("fix"):
        text += f" Fix: {req['fix']}"
    if req.get("fix_url"):
        text += f" {req['fix_url']}"
    return text


def format_junit(doc: dict[str, Any]) -> str:
    """One test case per requirement; unmet ones fail (JUnit XML as CI test reporters read it)."""
    reqs = doc["requirements"]
    name = f"clearance {doc.get('system', '?')} {doc.get('environment', '?')}"
    suites = ET.Element("testsuites", name="clearance-check", tests=str(len(reqs)), failures=str(len(_unmet(doc))))
    suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(reqs)), failures=str(len(_unmet(doc))),
                          errors="0", skipped=str(sum(1 for r in reqs if r.get("status") == "waived")),
                          timestamp=str(doc.get("checked_at") or ""))
    props = ET.SubElement(suite, "properties")
    policy = _policy_of(doc)
    for key, value in (("verdict", doc["verdict"]), ("policy", policy.get("name")),
                       ("policy_version", policy.get("version")), ("url", doc.get("url"))):
        ET.SubElement(props, "property", name=key, value=str(value or ""))
    for req in reqs:
        case = ET.SubElement(suite, "testcase", classname=name, name=f"{req.get('id', '?')}: {req.get('title', '')}")
        status = str(req.get("status", ""))
        if status == "waived":
            ET.SubElement(case, "skipped", message=str(req.get("message") or "waived"))
        elif status not in SATISFIED:
            failure = ET.SubElement(case, "failure", message=str(req.get("message") or status), type=status)
            failure.text = _finding(req)
        else:
            ET.SubElement(case, "system-out").text = str(req.get("message") or "")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _location(doc: dict[str, Any], path: str) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": path}, "region": {"startLine": 1}},
            "logicalLocations": [{"name": str(doc.get("system", "?")), "kind": "module"}]}


def format_sarif(doc: dict[str, Any], path: str = ".clearance") -> str:
    """SARIF 2.1.0: rules are the requirements, a result per unmet one (for code-scanning UIs)."""
    policy = _policy_of(doc)
    rules, results = [], []
    for index, req in enumerate(doc["requirements"]):
        rule: dict[str, Any] = {"id": str(req.get("id", "?")), "name": str(req.get("id", "?")),
                                "shortDescription": {"text": str(req.get("title") or req.get("id") or "?")}}
        if req.get("fix"):
            rule["help"] = {"text": str(req["fix"])}
        if req.get("fix_url"):
            rule["helpUri"] = str(req["fix_url"])
        rules.append(rule)
        if req.get("status") in SATISFIED:
            continue
        results.append({
            "ruleId": rule["id"],
            "ruleIndex": index,
            "level": SARIF_LEVELS.get(str(req.get("severity", "")), "error"),
            "message": {"text": _finding(req)},
            "locations": [_location(doc, path)],
            "properties": {"status": req.get("status"), "since": req.get("since"),
                           "environment": doc.get("environment")},
        })
    run = {
        "tool": {"driver": {"name": "clearance-check", "version": __version__,
                            "informationUri": str(doc.get("url") or ""), "rules": rules}},
        "automationDetails": {"id": f"clearance/{doc.get('system', '?')}/{doc.get('environment', '?')}/"},
        "results": results,
        "properties": {"verdict": doc["verdict"], "policy": policy},
    }
    return json.dumps({"version": "2.1.0", "$schema": SARIF_SCHEMA, "runs": [run]}, indent=2) + "\n"


def format_gitlab(doc: dict[str, Any], path: str = ".clearance") -> str:
    """GitLab code quality: a JSON array of issues, one per unmet requirement."""
    issues = []
    for req in _unmet(doc):
        key = f"{doc.get('system')}/{doc.get('environment')}/{req.get('id')}"
        issues.append({
            "description": f"{req.get('id')}: {_finding(req)}",
            "check_name": str(req.get("id", "?")),
            "fingerprint": uuid.uuid5(uuid.NAMESPACE_URL, f"clearance:{key}").hex,
            "severity": GITLAB_SEVERITIES.get(str(req.get("severity", "")), "critical"),
            "location": {"path": path, "lines": {"begin": 1}},
        })
    return json.dumps(issues, indent=2) + "\n"


def format_github(doc: dict[str, Any]) -> str:
    """Workflow commands (annotations) then the text report, for a step's log."""
    return "\n".join(github_annotations(doc)) + "\n" + format_text(doc)


def render(doc: dict[str, Any], fmt: str, code: int) -> str:
    if fmt == "json":
        return json.dumps({**doc, "exit_code": code}, indent=2) + "\n"
    if fmt == "junit":
        return format_junit(doc)
    if fmt == "sarif":
        return format_sarif(doc)
    if fmt == "gitlab":
        return format_gitlab(doc)
    if fmt == "github":
        return format_github(doc)
    return format_text(doc)


def _stderr(message: str, token: str | None = None) -> None:
    print(f"clearance-check: {_redact(message, token)}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clearance-check", description=__doc__.split("\n")[0],
                                epilog="Exit codes: 0 pass, 1 block, 2 anything else. "
                                       "`clearance-check verify --help` for checking a saved attestation.")
    p.add_argument("--url", default=_env("CLEARANCE_URL"), help="gate base URL (default: $CLEARANCE_URL)")
    p.add_argument("--token", default=_env("CLEARANCE_TOKEN"), help="gate token (default: $CLEARANCE_TOKEN)")
    p.add_argument("--system", required=True, help="system slug")
    p.add_argument("--environment", required=True, help="target environment name")
    p.add_argument("--deploy-version", default=_env("CLEARANCE_DEPLOY_VERSION"),
                   help="version being deployed (default: $CLEARANCE_DEPLOY_VERSION)")
    p.add_argument("--commit", default=_env("GITHUB_SHA") or _env("CI_COMMIT_SHA"),
                   help="commit SHA (default: $GITHUB_SHA or $CI_COMMIT_SHA)")
    p.add_argument("--pipeline-url", default=default_pipeline_url(),
                   help="link to this CI run (default: GitHub Actions run URL or $CI_PIPELINE_URL)")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="report format: text (default), json, junit (JUnit XML), sarif (SARIF 2.1.0), "
                        "github (workflow annotations + text), gitlab (code quality JSON)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE (text summary on stdout)")
    p.add_argument("--attestation", metavar="FILE",
                   help="ask for a signed attestation of the verdict and save it to FILE (check it later "
                        "with `clearance-check verify FILE`)")
    p.add_argument("--timeout", type=_positive, default=10.0, help="seconds per attempt (default 10)")
    p.add_argument("--retries", type=_non_negative_int, default=2, help="retries on transient errors")
    p.add_argument("--backoff", type=_non_negative, default=0.5, help="base backoff seconds (default 0.5)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return number


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def _emit(args: argparse.Namespace, report: str, summary: str | None) -> None:
    """Write the report to --output (and summary to stdout) or the report to stdout."""
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(report)
        if summary:
            sys.stdout.write(summary)
    else:
        sys.stdout.write(report)


def _append_step_summary(text: str) -> None:
    path = _env("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _fail(args: argparse.Namespace, exc: GateError) -> int:
    described = _redact(exc.describe(), args.token)
    print(f"clearance-check: error: {described}", file=sys.stderr)
    in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
    if in_actions:
        print(f"::error title=clearance-check::{_gh_data(described)}")
    try:
        if args.format == "json":
            _emit(args, _redact(json.dumps(exc.as_json(), indent=2), args.token) + "\n", None)
        if in_actions:
            _append_step_summary(f"### ⚠️ Clearance gate: ERROR\n\n{_md(described)}\n\n")
    except OSError as err:
        _stderr(f"error: cannot write report: {err}")
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure:
            reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        return verify_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or bad arguments (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return _run(args)
    except Exception as exc:  # a crash must not look like "block" (exit 1), let alone "pass"
        _stderr(f"error: internal error: {exc!r}", args.token)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    if not args.url or not args.token:
        missing = "URL (--url or CLEARANCE_URL)" if not args.url else "token (--token or CLEARANCE_TOKEN)"
        return _fail(args, GateError(f"no gate {missing} given"))
    body: dict[str, Any] = {"system": args.system, "environment": args.environment}
    if args.attestation:
        body["attestation"] = True
    for key, value in (("version", args.deploy_version), ("commit", args.commit),
                       ("pipeline_url", args.pipeline_url)):
        if value:
            body[key] = value
    try:
        doc = check(endpoint_for(args.url), args.token, body, timeout=args.timeout,
                    retries=args.retries, backoff=args.backoff)
    except GateError as exc:
        return _fail(args, exc)
    if args.attestation:
        try:
            save_attestation(doc, args.attestation)
        except GateError as exc:
            return _fail(args, exc)
    code = EXIT_PASS if doc["verdict"] == "pass" else EXIT_BLOCK
    text = format_text(doc)
    report = render(doc, args.format, code)
    try:
        _emit(args, report, text)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            if args.format != "github" or args.output:
                for line in github_annotations(doc):
                    print(line)
            _append_step_summary(github_summary(doc))
    except OSError as exc:
        return _fail(args, GateError(f"cannot write report: {exc}"))
    return code


# --- Attestations --------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    """DSSE allows standard and URL-safe base64, with or without padding; verifiers take both."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding, the bytes that are signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def subject_digest(system: str, version: str, commit: str) -> str:
    return hashlib.sha256(canonical_json({"system": system, "version": version, "commit": commit})).hexdigest()


class NotVerified(Exception):
    """The attestation does not hold; ``reason`` is one of the documented reasons."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def envelope_parts(envelope: Any) -> tuple[str, bytes, list[dict[str, Any]]]:
    """(payload type, payload bytes, signatures) of a DSSE JSON envelope, or NotVerified."""
    if isinstance(envelope, dict) and isinstance(envelope.get("attestation"), dict):
        envelope = envelope["attestation"]  # a saved gate answer (--format json) holds one
    if not isinstance(envelope, dict):
        raise NotVerified("malformed envelope", "expected a JSON object with payloadType, payload and signatures")
    payload_type, payload, signatures = envelope.get("payloadType"), envelope.get("payload"), envelope.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise NotVerified("malformed envelope", "payloadType and payload must be strings")
    if (not isinstance(signatures, list) or not signatures
            or not all(isinstance(s, dict) and isinstance(s.get("sig"), str)
                       and isinstance(s.get("keyid", ""), str) for s in signatures)):
        raise NotVerified("malformed envelope", "signatures must be a non-empty list of {keyid, sig}")
    try:
        body = _b64decode(payload)
    except (binascii.Error, ValueError):
        raise NotVerified("malformed envelope", "payload is not base64") from None
    return payload_type, body, signatures


def save_attestation(doc: dict[str, Any], path: str) -> None:
    """Save the answer's envelope after checking, without keys, that it describes this answer: a
    server that attests something else than it answered is an error, whatever the verdict."""
    envelope = doc.get("attestation")
    if not isinstance(envelope, dict):
        raise GateError("the server sent no attestation (it may predate attestations); nothing saved", status=200)
    try:
        _, body, _ = envelope_parts(envelope)
        predicate = json.loads(body)["predicate"]
        same = (predicate["verdict"], predicate["gateCheck"]["id"], predicate["system"], predicate["environment"]) == (
            doc["verdict"], doc.get("id"), doc.get("system"), doc.get("environment"))
    except (NotVerified, ValueError, KeyError, TypeError) as exc:
        raise GateError(f"the server's attestation is unreadable ({exc}); nothing saved", status=200) from None
    if not same:
        raise GateError("the server's attestation describes another answer than the one it sent; nothing saved",
                        status=200)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(envelope, indent=2) + "\n")
    except OSError as exc:
        raise GateError(f"cannot write the attestation: {exc}") from None
    _stderr(f"signed attestation of this {doc['verdict']} saved to {path} (check it with: "
            f"clearance-check verify {path} --url URL)")


def load_keys(source: str, timeout: float) -> dict[str, bytes]:
    """The published keys (raw Ed25519 public keys by key id) from a file or an http(s) URL."""
    try:
        if source.startswith(("http://", "https://")):
            request = urllib.request.Request(source, headers={"Accept": "application/json",
                                                              "User-Agent": f"clearance-check/{__version__}"})
            with urllib.request.build_opener(_NoRedirects).open(request, timeout=timeout) as response:
                raw = response.read(MAX_BODY)
        else:
            with open(source, "rb") as fh:
                raw = fh.read(MAX_BODY)
        doc = json.loads(raw)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise GateError(f"cannot read the published keys from {source}: {exc}") from None
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise GateError(f"{source} is not a key set: expected {{\"keys\": [...]}}")
    keys: dict[str, bytes] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("algorithm") != "ed25519":
            continue
        try:
            raw_key = _b64decode(entry.get("publicKey", ""))
        except (binascii.Error, ValueError):
            raise GateError(f"{source}: key {entry.get('keyid')!r} is not base64") from None
        # Key ids are the key's own fingerprint, so a key set cannot file a key under another's id.
        if len(raw_key) != 32 or hashlib.sha256(raw_key).hexdigest()[:16] != entry.get("keyid"):
            raise GateError(f"{source}: key {entry.get('keyid')!r} does not match its key id")
        keys[entry["keyid"]] = raw_key
    return keys


def verify_envelope(envelope: Any, keys: dict[str, bytes]) -> tuple[dict[str, Any], str]:
    """The verified statement and the id of the key that signed it, or NotVerified with the reason."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    payload_type, body, signatures = envelope_parts(envelope)
    if payload_type != PAYLOAD_TYPE:
        raise NotVerified("payload type wrong", f"expected {PAYLOAD_TYPE}, got {payload_type!r}")
    message, tried = pae(payload_type, body), []
    for signature in signatures:
        keyid = signature.get("keyid") or ""
        candidates = [keyid] if keyid else list(keys)  # an unset keyid is only a missing hint
        for kid in candidates:
            if kid not in keys:
                continue
            tried.append(kid)
            try:
                Ed25519PublicKey.from_public_bytes(keys[kid]).verify(_b64decode(signature["sig"]), message)
            except (InvalidSignature, binascii.Error, ValueError):
                continue
            return _statement(body), kid
    if not tried:
        named = ", ".join(repr(s.get("keyid") or "") for s in signatures)
        raise NotVerified("unknown key id", f"signed by {named}; the published keys are {', '.join(keys) or 'none'}")
    raise NotVerified("bad signature", f"the signature by {', '.join(tried)} does not verify: the attestation "
                                       "was altered or not signed by that key")


def _statement(body: bytes) -> dict[str, Any]:
    try:
        statement = json.loads(body)
        predicate, subject = statement["predicate"], statement["subject"][0]
        ok = (statement["_type"] == STATEMENT_TYPE and statement["predicateType"] == PREDICATE_TYPE
              and isinstance(predicate, dict) and isinstance(subject.get("digest"), dict))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise NotVerified("malformed statement", f"not an in-toto statement of type {PREDICATE_TYPE}")
    request = predicate.get("request") or {}
    expected = subject_digest(str(predicate.get("system")), str(request.get("version", "")),
                              str(request.get("commit", "")))
    if subject["digest"].get("sha256") != expected or subject.get("name") != predicate.get("system"):
        raise NotVerified("subject mismatch", "the subject's digest does not match the system, version and commit")
    return dict(statement)


def check_expectations(statement: dict[str, Any], args: argparse.Namespace) -> None:
    predicate = statement["predicate"]
    request = predicate.get("request") or {}
    attested = {"system": predicate.get("system"), "environment": predicate.get("environment"),
                "version": request.get("version"), "commit": request.get("commit")}
    wanted = {"system": args.system, "environment": args.environment, "version": args.deploy_version,
              "commit": args.commit}
    for name, value in wanted.items():
        if value is None:
            continue
        have = str(attested[name] or "")
        same = have == value
        if name == "commit" and not same and min(len(have), len(value)) >= 7:
            same = have.lower().startswith(value.lower()) or value.lower().startswith(have.lower())
        if not same:
            raise NotVerified("subject mismatch", f"the attestation is for {name} {have!r}, expected {value!r}")
    if args.require_pass and predicate.get("verdict") != "pass":
        raise NotVerified("verdict is not pass", f"the attested verdict is {predicate.get('verdict')!r}")


def build_verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="clearance-check verify",
        description="Check a saved gate attestation offline against the server's published keys.",
        epilog=f"Exit codes: {VERIFIED} verified, {NOT_VERIFIED} not verified (the reason is printed), "
               f"{VERIFY_ERROR} error (unreadable keys or file, bad arguments), {NEEDS_CRYPTOGRAPHY} the "
               "Python package 'cryptography' is not installed.")
    p.add_argument("file", help="the attestation saved by --attestation (or a --format json answer)")
    p.add_argument("--keys", metavar="FILE_OR_URL",
                   help=f"the published keys: a saved copy of {KEYS_PATH} or its URL (default: from --url)")
    p.add_argument("--url", default=_env("CLEARANCE_URL"), help="server base URL (default: $CLEARANCE_URL)")
    p.add_argument("--system", help="fail unless the attestation is for this system")
    p.add_argument("--environment", help="fail unless it is for this environment")
    p.add_argument("--commit", help="fail unless it is for this commit (a 7+ character prefix matches)")
    p.add_argument("--deploy-version", help="fail unless it is for this version")
    p.add_argument("--require-pass", action="store_true", help="fail unless the attested verdict is pass")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--timeout", type=_positive, default=10.0, help="seconds to fetch the keys (default 10)")
    return p


def verify_main(argv: list[str]) -> int:
    try:
        args = build_verify_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else VERIFY_ERROR
    try:
        import cryptography  # noqa: F401 - only to tell whether verify can run
    except ImportError:
        _stderr("verify needs the Python package 'cryptography' (pip install cryptography), which is not "
                "installed here; the gate itself works without it, but an attestation cannot be verified")
        return NEEDS_CRYPTOGRAPHY
    source = args.keys or (args.url.rstrip("/") + KEYS_PATH if args.url else None)
    try:
        if not source:
            raise GateError("give the published keys: --keys FILE_OR_URL, or --url / CLEARANCE_URL")
        try:
            with open(args.file, "rb") as fh:
                raw = fh.read(MAX_BODY)
        except OSError as exc:
            raise GateError(f"cannot read {args.file}: {exc}") from None
        keys = load_keys(source, args.timeout)
    except GateError as exc:
        _stderr(f"error: {exc.message}")
        return VERIFY_ERROR
    started = time.perf_counter()
    try:
        try:
            envelope = json.loads(raw)
        except ValueError:
            raise NotVerified("malformed envelope", f"{args.file} is not JSON") from None
        statement, kid = verify_envelope(envelope, keys)
        check_expectations(statement, args)
    except NotVerified as exc:
        if args.json:
            print(json.dumps({"verified": False, "reason": exc.reason, "message": exc.detail}, indent=2))
        else:
            print(f"attestation NOT verified: {exc.reason}: {exc.detail}")
        return NOT_VERIFIED
    elapsed_ms = (time.perf_counter() - started) * 1000
    predicate = statement["predicate"]
    if args.json:
        print(json.dumps({"verified": True, "keyid": kid, "verify_ms": round(elapsed_ms, 3),
                          "statement": statement}, indent=2))
    else:
        request, policy = predicate.get("request") or {}, predicate.get("policy") or {}
        print(f"attestation verified: {str(predicate.get('verdict')).upper()} for {predicate.get('system')} in "
              f"{predicate.get('environment')} (version {request.get('version') or '-'}, commit "
              f"{request.get('commit') or '-'}), policy {policy.get('name')}@{str(policy.get('version'))[:12]}, "
              f"checked at {predicate.get('checkedAt')}, signed by key {kid}")
    return VERIFIED


if __name__ == "__main__":
    sys.exit(main())
