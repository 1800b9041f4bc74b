"""Submit an HTML form the way a browser does, for tests that need a real form round trip without
starting Chromium: read the fields from the rendered page, then send them back.

What matters for round trips is what browsers do to a textarea: the newline right after
``<textarea>`` is not part of the value, and on submission every line break in the value becomes
CRLF (HTML's "normalize line breaks" step of constructing the entry list).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any


class _Form:
    def __init__(self, attrs: dict[str, str | None]) -> None:
        self.attrs = attrs
        self.fields: list[tuple[str, str]] = []
        self.buttons: list[tuple[str, str]] = []


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._option: str | None = None
        self._option_text: list[str] = []
        self._selected: list[str] = []
        self._select_first: str | None = None

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attrs_list)
        if tag == "form":
            self._form = _Form(attrs)
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image"):
                self._form.buttons.append((name, attrs.get("value") or ""))
            elif kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._form.fields.append((name, attrs.get("value") or "on"))
            elif kind != "file":
                self._form.fields.append((name, attrs.get("value") or ""))
        elif tag == "button" and name:
            self._form.buttons.append((name, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._selected, self._select_first = name, [], None
        elif tag == "option" and self._select is not None:
            self._option, self._option_text = attrs.get("value"), []
            if "selected" in attrs:
                self._selected.append(self._option if self._option is not None else "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)
        if self._option is not None:
            self._option_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            value = "".join(self._text)
            # The HTML parser drops a newline directly after the start tag.
            value = value[1:] if value.startswith("\n") else value
            self._form.fields.append((self._textarea, value))
            self._textarea = None
        elif tag == "option" and self._option is not None:
            value = self._option if self._option is not None else "".join(self._option_text).strip()
            if self._select_first is None:
                self._select_first = value
            self._option = None
        elif tag == "select" and self._select is not None and self._form is not None:
            chosen = self._selected or ([self._select_first] if self._select_first is not None else [])
            self._form.fields.extend((self._select, value) for value in chosen)
            self._select = None


def crlf(value: str) -> str:
    """A textarea value as a browser submits it."""
    return re.sub(r"\r\n|\r|\n", "\r\n", value)


def form_fields(html: str, *, having: str) -> dict[str, Any]:
    """The successful controls of the POST form that has a control named ``having``, as a browser
    would submit them (textareas with CRLF line breaks), keyed by name; repeated names give lists."""
    parser = _FormParser()
    parser.feed(html)
    forms = [f for f in parser.forms if (f.attrs.get("method") or "get").lower() == "post"
             and any(name == having for name, _ in f.fields)]
    assert len(forms) == 1, f"{len(forms)} POST forms have a field named {having!r}"
    form = forms[0]
    textareas = set(re.findall(r'<textarea[^>]*\bname="([^"]+)"', html))
    data: dict[str, Any] = {}
    for name, value in form.fields:
        value = crlf(value) if name in textareas else value
        if name in data:
            data[name] = [*data[name], value] if isinstance(data[name], list) else [data[name], value]
        else:
            data[name] = value
    return data
