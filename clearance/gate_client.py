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
"""

from __future__ import annotations

import argparse
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

__version__ = "0.2.0"

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


def send_once(endpoint: str, token: str, body: dict[str, str], timeout: float) -> dict[str, Any]:
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


def check(endpoint: str, token: str, body: dict[str, str], *, timeout: float, retries: int,
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
                                epilog="Exit codes: 0 pass, 1 block, 2 anything else.")
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
    body = {"system": args.system, "environment": args.environment}
    for key, value in (("version", args.deploy_version), ("commit", args.commit),
                       ("pipeline_url", args.pipeline_url)):
        if value:
            body[key] = value
    try:
        doc = check(endpoint_for(args.url), args.token, body, timeout=args.timeout,
                    retries=args.retries, backoff=args.backoff)
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


if __name__ == "__main__":
    sys.exit(main())
