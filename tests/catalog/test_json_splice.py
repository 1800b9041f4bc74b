"""Splicing a changed JSON document into its original text: the result always parses to the changed
document, unchanged parts keep their bytes, and an unchanged document is the original text.
Property-based over documents of any shape and layout, then the layouts real files use."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.lib.json_splice import splice

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=8))
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6)
documents = st.dictionaries(keys, st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12),
    min_size=1, max_size=5)
layouts = st.sampled_from([
    {"indent": 2}, {"indent": 4}, {"indent": None}, {"indent": 2, "ensure_ascii": False},
    {"indent": None, "separators": (",", ":")}, {"indent": "\t"},
])


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


@st.composite
def changed(draw):
    doc = draw(documents)
    new = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        targets = [p for p in paths(new) if p]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = new
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["set", "add", "remove", "append"]))
        if action == "set":
            parent[path[-1]] = draw(scalars | st.lists(scalars, max_size=3))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(scalars)
        elif action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "append" and isinstance(parent[path[-1]], list):
            parent[path[-1]].append(draw(scalars))
    return doc, new


@settings(max_examples=300, deadline=None)
@given(changed(), layouts)
def test_a_spliced_document_parses_to_the_changed_document(case, layout):
    old, new = case
    text = json.dumps(old, **layout)
    result = splice(text, old, new)
    assert result is not None
    assert json.loads(result) == new
    assert splice(text, old, old) == text


def test_only_the_changed_value_moves_in_a_real_layout():
    text = ('{\n  "model_details": {\n    "name": "n",\n    "licenses": [{"identifier": "Apache-2.0"}],\n'
            '    "references": [{"reference": "a"},\n                   {"reference": "b"}]\n  },\n'
            '  "considerations": {\n    "limitations": [\n      {"description": "caf\\u00e9"}\n    ]\n  }\n}\n')
    old = json.loads(text)
    new = copy.deepcopy(old)
    new["considerations"]["limitations"].append({"description": "new"})
    new["considerations"]["tradeoffs"] = [{"description": "speed"}]
    new["model_details"]["overview"] = "Détails"
    result = splice(text, old, new)
    assert result == ('{\n  "model_details": {\n    "name": "n",\n    "licenses": [{"identifier": "Apache-2.0"}],\n'
                      '    "references": [{"reference": "a"},\n                   {"reference": "b"}],\n'
                      '    "overview": "D\\u00e9tails"\n  },\n'
                      '  "considerations": {\n    "limitations": [\n      {"description": "caf\\u00e9"},\n'
                      '      {"description": "new"}\n    ],\n'
                      '    "tradeoffs": [\n      {"description": "speed"}\n    ]\n  }\n}\n')


def test_a_repeated_key_is_edited_where_json_reads_it():
    text = '{"a": 1, "a": 2, "b": 3}'
    assert json.loads(splice(text, {"a": 2, "b": 3}, {"a": 5, "b": 3})) == {"a": 5, "b": 3}
