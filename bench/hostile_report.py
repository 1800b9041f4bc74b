"""The figures of the hostile-input work, gathered from the tests that prove it, as Markdown tables:
inputs tried per import parser and per form by the hypothesis fuzz tests and how many found a
server error, the schemathesis totals over the OpenAPI, the size of the persona x list-page leak
test, and each sample card's round trip (bench/card_roundtrip.py).

    uv run python bench/hostile_report.py [--examples 30] [--schemathesis-examples 25] [--skip-roundtrip]

The tests run as they do in the suite (pytest, the database DATABASE_URL names, SQLite by default);
this script only reads what they print. A test that fails is reported as such, with its summary.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
FUZZ_FILES = ["tests/test_fuzz_imports.py", "tests/test_fuzz_forms.py"]
CHECKS_PER_CASE = 5  # tests/test_openapi_conformance.py CHECKS: server error, status, content type, schema, headers


def pytest(path: str, env: dict[str, str]) -> tuple[bool, str, str]:
    """(passed, output, summary line) of one test file, run with its prints shown."""
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "pytest", "-q", "-s", "--create-db", "-p", "no:cacheprovider", path],
        cwd=BASE_DIR, env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )
    text = out.stdout + out.stderr
    summary = next((line.strip("= ") for line in reversed(text.splitlines())
                    if re.search(r"\d+ (passed|failed|error)", line)), "no summary")
    return out.returncode == 0, text, summary


def fuzz_tables(env: dict[str, str]) -> list[str]:
    lines = ["## Fuzzing (hypothesis)", "", "| file | target | inputs tried | server errors found |", "|---|---|---:|---:|"]
    notes = []
    for path in FUZZ_FILES:
        if not (BASE_DIR / path).exists():
            notes.append(f"- `{path}`: no such test file")
            continue
        passed, text, summary = pytest(path, env)
        # Each fuzz test fails on the first server error (5xx, or an internal error for an import),
        # so a file that passed found none.
        found = "0" if passed else "see failures"
        rows = re.findall(r"^\s+(\d+)\s{2}(.+)$", text.split("inputs tried per", 1)[1] if "inputs tried per" in text
                          else "", flags=re.MULTILINE)
        for number, target in rows:
            lines.append(f"| {Path(path).name} | {target.strip()} | {int(number):,} | {found} |")
        total = sum(int(n) for n, _ in rows)
        lines.append(f"| {Path(path).name} | **total** | **{total:,}** | {found} |")
        notes.append(f"- `{path}`: {summary}")
    return [*lines, "", *notes, ""]


def schemathesis_table(env: dict[str, str]) -> list[str]:
    path = "tests/test_openapi_conformance.py"
    passed, text, summary = pytest(path, env)
    match = re.search(r"schemathesis: (\d+) cases over (\d+) operations, (\d+) failures", text)
    lines = ["## OpenAPI conformance (schemathesis)", ""]
    if not match:
        return [*lines, f"no totals printed ({summary})", ""]
    cases, operations, failures = (int(g) for g in match.groups())
    lines += ["| operations | cases | checks per case | checks run | failures | server errors |",
              "|---:|---:|---:|---:|---:|---:|",
              f"| {operations} | {cases:,} | {CHECKS_PER_CASE} | {cases * CHECKS_PER_CASE:,} | {failures} | "
              f"{0 if passed else 'see failures'} |", "", "| operation [mode] | cases |", "|---|---:|"]
    for number, label in re.findall(r"^\s+(\d+)\s{2}(\S.*\[(?:positive|negative)\])$", text, flags=re.MULTILINE):
        lines.append(f"| {label} | {number} |")
    return [*lines, "", f"- `{path}`: {summary}", ""]


def leak_table(env: dict[str, str]) -> list[str]:
    path = "tests/test_list_leaks.py"
    passed, text, summary = pytest(path, env)
    match = re.search(r"personas=(\d+) list pages=(\d+) object links opened=(\d+)", text)
    lines = ["## Persona x list pages (leaks)", ""]
    if not match:
        return [*lines, f"no figures printed ({summary})", ""]
    personas, pages, links = (int(g) for g in match.groups())
    return [*lines, "| personas | list pages checked (persona x page) | object links opened | leaks |",
            "|---:|---:|---:|---:|", f"| {personas} | {pages} | {links:,} | {0 if passed else 'see failures'} |", "",
            f"- `{path}`: {summary}", ""]


def roundtrip_table(env: dict[str, str]) -> list[str]:
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "bench/card_roundtrip.py"], cwd=BASE_DIR, env={**os.environ, **env},
        capture_output=True, text=True, check=False,
    )
    lines = ["## Model card round trips (bench/card_roundtrip.py)", ""]
    rows = [line for line in out.stdout.splitlines() if "|" in line]
    if out.returncode != 0 or not rows:
        return [*lines, f"failed: {out.stderr[-2000:]}", ""]
    def cells(row: str) -> list[str]:
        first, *rest = (c.strip() for c in row.split("|"))
        name, _, size = first.rpartition(" ")  # the script's first column holds the file and its bytes
        return [name.strip(), size, *rest]

    header, *body = rows
    lines += ["| " + " | ".join(cells(header)) + " |", "|---|---:|" + "---|" * (len(cells(header)) - 2)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in body]
    return [*lines, "", "Each cell: bytes of the export, and whether it is byte-identical to the file "
            "(else how many places differ).", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "30")),
                        help="hypothesis inputs per fuzz target (FUZZ_EXAMPLES)")
    parser.add_argument("--schemathesis-examples", type=int,
                        default=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25")))
    parser.add_argument("--skip-roundtrip", action="store_true")
    args = parser.parse_args()
    env = {"FUZZ_EXAMPLES": str(args.examples), "SCHEMATHESIS_EXAMPLES": str(args.schemathesis_examples)}
    database = os.environ.get("DATABASE_URL", "sqlite (default)").split("@")[-1]
    out = [f"# Hostile input: figures (database: {database})", ""]
    out += fuzz_tables(env)
    out += schemathesis_table(env)
    out += leak_table(env)
    if not args.skip_roundtrip:
        out += roundtrip_table(env)
    print("\n".join(out))


if __name__ == "__main__":
    main()
