"""The condition language shared by the tiering rules and the readiness policy.

A condition is a small JSON/YAML object evaluated against a flat dict of facts:

    {fact: annex_iii_area, not_in: [none]}
    {fact: data_categories, contains_any: [personal, special_category]}
    {fact: customer_facing, equals: true}
    {all: [...]}, {any: [...]}, {not: {...}}

Evaluation is pure; an unknown fact is an error (a typo must not silently read as false).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OPERATORS = ("equals", "not_equals", "in", "not_in", "contains_any", "not_empty", "empty")

CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "oneOf": [
        {
            "properties": {"all": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "minItems": 1}},
            "required": ["all"],
            "additionalProperties": False,
        },
        {
            "properties": {"any": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "minItems": 1}},
            "required": ["any"],
            "additionalProperties": False,
        },
        {"properties": {"not": {"$ref": "#/$defs/condition"}}, "required": ["not"], "additionalProperties": False},
        {
            "properties": {
                "fact": {"type": "string"},
                "equals": {},
                "not_equals": {},
                "in": {"type": "array"},
                "not_in": {"type": "array"},
                "contains_any": {"type": "array"},
                "not_empty": {"const": True},
                "empty": {"const": True},
            },
            "required": ["fact"],
            "minProperties": 2,
            "maxProperties": 2,
            "additionalProperties": False,
        },
    ],
}


class ConditionError(ValueError):
    """The condition refers to a fact that does not exist or is malformed."""


def evaluate(condition: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    if "all" in condition:
        return all(evaluate(c, facts) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, facts) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], facts)
    name = condition.get("fact")
    if not isinstance(name, str) or name not in facts:
        raise ConditionError(f"unknown fact {name!r}; known facts: {', '.join(sorted(facts))}")
    value = facts[name]
    ops = [op for op in OPERATORS if op in condition]
    if len(ops) != 1:
        raise ConditionError(f"condition on {name!r} needs exactly one of {', '.join(OPERATORS)}")
    op = ops[0]
    arg = condition[op]
    if op == "equals":
        return bool(value == arg)
    if op == "not_equals":
        return bool(value != arg)
    if op == "in":
        return value in arg
    if op == "not_in":
        return value not in arg
    if op == "contains_any":
        return bool(set(value or []) & set(arg))
    if op == "not_empty":
        return bool(value)
    return not value


def referenced_facts(condition: Mapping[str, Any]) -> set[str]:
    """Every fact name a condition reads (for lint)."""
    for key in ("all", "any"):
        if key in condition:
            return set().union(*(referenced_facts(c) for c in condition[key]))
    if "not" in condition:
        return referenced_facts(condition["not"])
    return {condition["fact"]} if "fact" in condition else set()
