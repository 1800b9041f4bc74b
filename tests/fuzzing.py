"""Hypothesis strategies for hostile input, shared by the import and form fuzz tests.

Values are drawn from three pools: strings and numbers that broke real software (NUL, lone
surrogates, over-long text and text around every column's length, NaN/Infinity spelled every way,
integers past 64 bits, dates that do not exist, nesting past any stack), values hypothesis invents,
and the real sample files with parts of them replaced. How many inputs each target tried is counted in ``TRIED`` and printed at the end.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Inputs per target in the suite; FUZZ_EXAMPLES=500 searches harder, FUZZ_RANDOM=1 draws new inputs on
# every run instead of the suite's fixed, reproducible sequence.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
                suppress_health_check=list(HealthCheck))
TRIED: Counter[str] = Counter()

HOSTILE_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "m" * 101, "m" * 500, "x" * 5000, "NaN", "nan", "-nan", "Infinity",
    "-Infinity", "inf", "1e400", "-1e400", "1e-400", "99999999999999999999999", "-99999999999999999999999",
    "9" * 5000, "0", "-0", "-1", "0.5", "1.5", "1,000", "0x1F", "1_000", "${jndi:ldap://x}", "<script>alert(1)</script>",
    "' OR 1=1 --", "../../../etc/passwd", "/etc/passwd", "\u202e\u0635", "🙂" * 60, "\r\n", "\t", "[[[[", "{{}}",
    "2024-01-01", "2024-02-30", "2024-02-30T25:61:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "1/2/3", "13/45/2024", "12/31/99", "1e3", "true", "null", "None", "USD", "usd", "US", "€", "ЕUR",
    '{"ai_system": "support-copilot"}', '{"ai_system": ' + "[" * 500 + "]" * 500 + "}", "[" * 5000 + "]" * 5000,
]
HOSTILE_NUMBERS: list[Any] = [
    math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0, 2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30,
    -(10**30), 99999999999999999999999, 0, -1, 1, True, False, 1e15, 1e20, 253402300800, 253402300800000, -62135596800,
    1.5, 0.5, None, "1", "0.5", "NaN", "Infinity", "1e400",
]

# The lengths of the text columns an imported string can land in (currency, charge category, metric,
# dataset and run id, file name, resource id, source URL).
COLUMN_LIMITS = (3, 30, 100, 200, 255, 300, 1000)


@st.composite
def column_texts(draw: Any) -> str:
    """A string just under, at or past one of the column lengths, in one-byte, two-byte, astral or
    combining letters (PostgreSQL counts characters, not bytes), sometimes with a NUL inside."""
    limit = draw(st.sampled_from(COLUMN_LIMITS))
    size = draw(st.sampled_from([limit - 1, limit, limit + 1, limit + 17, 2 * limit + 3]))
    letter = draw(st.sampled_from(["x", "é", "🙂", "a\u0301", "/", " ", "\u202e"]))
    value = (draw(st.text(max_size=6)) + letter * size)[:size]
    if value and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(value) - 1))
        value = value[:at] + "\x00" + value[at + 1:]
    return value


text = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40),
                 st.text(alphabet=st.characters(codec="utf-8"), max_size=300), column_texts())
numbers = st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.floats(), st.integers(), st.integers(-10, 10),
                    st.floats(0, 1))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=4),
                                                               st.dictionaries(text, children, max_size=4)),
                           max_leaves=12)
# Nested past the 64 levels a stored document may have (deeper raw text is in HOSTILE_STRINGS).
deep = st.integers(30, 700).map(lambda n: _nest(n))


def _nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def paths_of(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (containers and leaves), parents before children."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += paths_of(value, (*prefix, index))
    return found


def replace_at(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(doc)
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copied


def delete_at(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    copied = copy.deepcopy(doc)
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return copied


def value_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def hostile_like(draw: Any, value: Any) -> Any:
    """Mostly a hostile value of the same kind (a number for a number, a string for a string), so
    it passes the shallow checks and reaches deeper code; sometimes anything at all."""
    if draw(st.integers(0, 9)) < 3:
        return draw(st.one_of(json_values, deep))
    if isinstance(value, bool | int | float) or value is None:
        return draw(st.one_of(st.sampled_from(HOSTILE_NUMBERS), numbers))
    if isinstance(value, str):
        return draw(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS).map(str),
                              column_texts()))
    if isinstance(value, list):
        return draw(st.one_of(st.just([]), st.just([None]), st.lists(st.sampled_from(value or [None]), max_size=5),
                              st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS), st.just({}), deep))
    return draw(st.one_of(st.just({}), st.just([]), st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS),
                          st.dictionaries(text, json_values, max_size=3), deep))


def text_slots(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[str, tuple[Any, ...]]]:
    """Where a document holds text: ("value", path) of every string, ("key", path) of every key
    (lm-evaluation-harness names tasks and metrics by keys)."""
    found: list[tuple[str, tuple[Any, ...]]] = []
    if isinstance(doc, str):
        found.append(("value", prefix))
    elif isinstance(doc, dict):
        for key, value in doc.items():
            found.append(("key", (*prefix, key)))
            found += text_slots(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += text_slots(value, (*prefix, index))
    return found


def rename_key(doc: Any, path: tuple[Any, ...], new: str) -> Any:
    copied = copy.deepcopy(doc)
    parent = value_at(copied, path[:-1])
    parent[new] = parent.pop(path[-1])
    return copied


@st.composite
def long_texts_in(draw: Any, original: Any, *, max_edits: int = 3) -> Any:
    """The real document with up to ``max_edits`` of its strings or keys replaced by strings around
    a column's length: only text changes, so the input gets past the shape checks to the columns."""
    doc = original
    for _ in range(draw(st.integers(1, max_edits))):
        slots = text_slots(doc)
        if not slots:
            break
        kind, path = draw(st.sampled_from(slots))
        new = draw(column_texts())
        doc = rename_key(doc, path, new) if kind == "key" else replace_at(doc, path, new)
    return doc


@st.composite
def mutated_json(draw: Any, original: Any, *, max_edits: int = 3) -> Any:
    """The real document with up to ``max_edits`` parts replaced by hostile values, removed, or a
    key renamed."""
    doc = original
    for _ in range(draw(st.integers(1, max_edits))):
        path = draw(st.sampled_from(paths_of(doc)))
        roll = draw(st.integers(0, 9))
        if path and roll == 0:
            doc = delete_at(doc, path)
        elif path and roll == 1 and isinstance(value_at(doc, path[:-1]), dict):
            doc = rename_key(doc, path, draw(st.one_of(column_texts(), st.sampled_from(HOSTILE_STRINGS))))
        else:
            doc = replace_at(doc, path, draw(hostile_like(value_at(doc, path))))
    return doc


@st.composite
def json_text(draw: Any, original: Any) -> str:
    """A JSON text from a mutated real document: as Python writes it (NaN, Infinity included),
    sometimes cut short, sometimes with a raw splice."""
    doc = draw(mutated_json(original))
    try:
        out = json.dumps(doc)
    except (ValueError, RecursionError):
        out = json.dumps(original)
    choice = draw(st.integers(0, 9))
    if choice == 0 and out:
        out = out[: draw(st.integers(0, len(out) - 1))]
    elif choice == 1:
        at = draw(st.integers(0, len(out)))
        out = out[:at] + draw(st.sampled_from(HOSTILE_STRINGS)) + out[at:]
    return out


def count(target: str) -> None:
    TRIED[target] += 1
