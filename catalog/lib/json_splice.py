"""Write a changed JSON document back into the text it was parsed from, touching only the values
that changed: every other byte (indentation, key order, one-line arrays, ``\\u`` escapes) stays.

Re-serialising a parsed document gives JSON-equal but not byte-identical text: another indentation,
another way of writing arrays. A model card a person keeps under version control should show, after
an edit, a diff of the edited value only. Pure functions; ``splice`` returns None when it cannot
place an edit, and callers check the result parses back to the document they meant.
"""

from __future__ import annotations

import json
import re
from typing import Any

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

Edit = tuple[int, int, str]


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def _end(text: str, i: int) -> int:
    return _DECODER.raw_decode(text, i)[1]


def _members(text: str, start: int) -> tuple[dict[str, tuple[int, int, int]], int]:
    """The members of the object whose ``{`` is at ``start``: key → (key start, value start, value end),
    and the index of its closing ``}``. A repeated key keeps its last occurrence, as json.loads does."""
    members: dict[str, tuple[int, int, int]] = {}
    i = _ws(text, start + 1)
    if text[i] == "}":
        return members, i
    while True:
        key_start = i
        if text[i] != '"':
            raise ValueError(f"expected a key at {i}")
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = _ws(text, i)
        if text[i] != ":":
            raise ValueError(f"expected ':' at {i}")
        i = _ws(text, i + 1)
        value_start = i
        i = _end(text, i)
        members[key] = (key_start, value_start, i)
        i = _ws(text, i)
        if text[i] == ",":
            i = _ws(text, i + 1)
            continue
        if text[i] != "}":
            raise ValueError(f"expected ',' or '}}' at {i}")
        return members, i


def _elements(text: str, start: int) -> tuple[list[tuple[int, int]], int]:
    """The (start, end) of each element of the array whose ``[`` is at ``start``, and its ``]``."""
    spans: list[tuple[int, int]] = []
    i = _ws(text, start + 1)
    if text[i] == "]":
        return spans, i
    while True:
        end = _end(text, i)
        spans.append((i, end))
        i = _ws(text, end)
        if text[i] == ",":
            i = _ws(text, i + 1)
            continue
        if text[i] != "]":
            raise ValueError(f"expected ',' or ']' at {i}")
        return spans, i


def _line_indent(text: str, i: int) -> str:
    line_start = text.rfind("\n", 0, i) + 1
    return re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]


def indent_unit(text: str) -> str:
    """The document's indentation step (the smallest indentation of a line), two spaces if none."""
    widths = [len(m.group(1)) for m in re.finditer(r"\n( +)\S", text)]
    return " " * min(widths) if widths else "  "


class _Style:
    def __init__(self, text: str) -> None:
        self.unit = indent_unit(text)
        self.ascii = text.isascii()

    def key(self, key: str) -> str:
        return json.dumps(key, ensure_ascii=self.ascii)

    def compact(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=self.ascii, separators=(", ", ": "))

    def block(self, value: Any, indent: str, like: str | None) -> str:
        """``value`` written the way ``like`` (the text it replaces) was: on one line, or one element
        per line with elements written as the original's first element was."""
        if like is not None and "\n" not in like:
            return self.compact(value)
        if isinstance(value, list | dict) and value:
            first_like = _first_element(like) if like else None
            inner = indent + self.unit
            if isinstance(value, list):
                parts = [self.block(v, inner, first_like) for v in value]
                opening, closing = "[", "]"
            else:
                parts = [f"{self.key(k)}: {self.block(v, inner, None)}" for k, v in value.items()]
                opening, closing = "{", "}"
            return opening + "\n" + ",\n".join(inner + p for p in parts) + "\n" + indent + closing
        return self.compact(value)


def _first_element(like: str) -> str | None:
    """The text of the first element of a JSON array or object value, to copy its layout."""
    try:
        i = _ws(like, 0)
        if like[i] == "[":
            spans, _ = _elements(like, i)
            return like[spans[0][0]:spans[0][1]] if spans else None
        if like[i] == "{":
            members, _ = _members(like, i)
            if members:
                _, start, end = next(iter(members.values()))
                return like[start:end]
    except (ValueError, IndexError):
        return None
    return None


def _replace(text: str, start: int, new: Any, style: _Style) -> Edit:
    end = _end(text, start)
    return start, end, style.block(new, _line_indent(text, start), text[start:end])


def _diff(text: str, start: int, old: Any, new: Any, style: _Style) -> list[Edit]:
    """The edits that turn the value at ``start`` (parsed: ``old``) into ``new``, as small as the
    change: objects and same-length arrays are descended into, members added in place."""
    if old == new and type(old) is type(new):
        return []
    if isinstance(old, dict) and isinstance(new, dict) and text[start] == "{":
        return _diff_object(text, start, old, new, style)
    if isinstance(old, list) and isinstance(new, list) and text[start] == "[":
        spans, close = _elements(text, start)
        if len(old) == len(new):
            return [e for (s, _), a, b in zip(spans, old, new, strict=True) for e in _diff(text, s, a, b, style)]
        if old and len(new) > len(old) and new[: len(old)] == old:
            last_start, last_end = spans[-1]
            one_line = "\n" not in text[start:close]
            indent = _line_indent(text, last_start)
            separator = ", " if one_line else ",\n" + indent
            like = text[last_start:last_end]
            added = separator.join(style.block(v, indent, like) for v in new[len(old):])
            return [(last_end, last_end, separator + added)]
    return [_replace(text, start, new, style)]


def _diff_object(text: str, start: int, old: dict[str, Any], new: dict[str, Any], style: _Style) -> list[Edit]:
    members, close = _members(text, start)
    removed = [k for k in old if k not in new]
    if len(removed) > 1 or any(k not in members for k in old) or (removed and len(members) == 1):
        return [_replace(text, start, new, style)]
    edits: list[Edit] = []
    for key in new:
        if key in old:
            edits.extend(_diff(text, members[key][1], old[key], new[key], style))
    if removed:
        order = sorted(members.values())
        place = order.index(members[removed[0]])
        key_start, _, value_end = order[place]
        if place > 0:  # from the end of the member before it: its comma goes too
            edits.append((order[place - 1][2], value_end, ""))
        elif len(order) > 1:
            edits.append((key_start, order[1][0], ""))
        else:
            edits.append((start + 1, close, ""))
    added = {k: v for k, v in new.items() if k not in old}
    if added:
        edits.append(_insertion(text, start, members, removed, close, added, style))
    return edits


def _insertion(text: str, start: int, members: dict[str, tuple[int, int, int]], removed: list[str], close: int,
               added: dict[str, Any], style: _Style) -> Edit:
    """New members at the end of the object, laid out like its last member (or inside ``{}``)."""
    kept = [m for k, m in members.items() if k not in removed]
    one_line = "\n" not in text[start:close]
    if kept:
        key_start, value_start, value_end = max(kept, key=lambda m: m[2])
        indent = _line_indent(text, key_start)
        separator = ", " if one_line else ",\n" + indent
        neighbour = text[value_start:value_end]

        def like(value: Any) -> str | None:
            """A new array or object is laid out like the member before it, if that is one too."""
            return neighbour if neighbour[:1] == ("[" if isinstance(value, list) else "{") else None

        parts = [f"{style.key(k)}: {style.compact(v) if one_line else style.block(v, indent, like(v))}"
                 for k, v in added.items()]
        return value_end, value_end, separator + separator.join(parts)
    indent = _line_indent(text, start)
    inner = indent + style.unit
    parts = [f"{style.key(k)}: {style.block(v, inner, None)}" for k, v in added.items()]
    return start + 1, close, "\n" + ",\n".join(inner + p for p in parts) + "\n" + indent


def splice(text: str, old: Any, new: Any) -> str | None:
    """``text`` (which parses to ``old``) changed to say ``new``, by the smallest edits that do it.
    None when the text cannot be edited in place; the caller then writes the whole document."""
    style = _Style(text)
    try:
        start = _ws(text, 0)
        edits = _diff(text, start, old, new, style)
    except (ValueError, IndexError):
        return None
    spans = sorted(edits)
    if any(a[1] > b[0] and a[0] != a[1] and b[0] != b[1] for a, b in zip(spans, spans[1:], strict=False)):
        return None  # overlapping edits: not expected, but never write a broken document
    for begin, end, replacement in sorted(edits, reverse=True):
        text = text[:begin] + replacement + text[end:]
    return text
