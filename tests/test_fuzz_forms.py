"""Property-based fuzzing of every web form, as the persona who uses it.

Each page below is opened as its persona; every POST form on it is read as a browser reads it
(tests/browserlike.py) and sent back with one to four fields replaced by hostile values (NUL, lone
surrogates, text around every column's length, numbers past 64 bits, NaN spelled every way,
dates that do not exist), removed, repeated or joined by a field the form does not have. The
property: the answer is never a server error (the test client re-raises a view's exception, so
an exception fails the test as a 500 would). Inputs tried per form are printed at the end
(FUZZ_EXAMPLES sets how many per page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake import services as intake
from intake.wizard import STEP_SLUGS
from tests.browserlike import _FormParser, crlf
from tests.conftest import answers
from tests.fuzzing import FUZZ, HOSTILE_NUMBERS, HOSTILE_STRINGS, TRIED, column_texts, count, text

pytestmark = pytest.mark.django_db

hostile_values = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS).map(str),
                           column_texts(), text)


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    forms = {k: v for k, v in TRIED.items() if k.startswith("form ")}
    print("\nform fuzzing, inputs tried per form:")
    for target, number in sorted(forms.items()):
        print(f"  {number:6d}  {target}")


@pytest.fixture
def world(request_in_review: Any, personas: dict[str, Any]) -> dict[str, Any]:
    from governance.models import Review

    draft = intake.request_create_draft(requester=personas["requester"], **answers(title="A draft to fuzz"))
    return {"slug": request_in_review.system.slug, "request": request_in_review.pk, "draft": draft.pk,
            "review": Review.objects.get(request=request_in_review, kind="legal").pk}


# (persona, page): every POST form on the page is fuzzed.
PAGES = [
    ("requester", "/requests/new/"),
    ("requester", "/requests/start/"),
    ("requester", "/requests/{draft}/edit/"),
    *[("requester", f"/requests/{{draft}}/steps/{step}/") for step in STEP_SLUGS],
    ("requester", "/requests/{request}/"),
    ("lead", "/triage/{request}/"),
    ("lead", "/systems/{slug}/settings/"),
    ("lead", "/datasets/new/"),
    ("lead", "/vendors/new/"),
    ("owner", "/systems/{slug}/model-card/"),
    ("owner", "/systems/{slug}/evidence/sources/new/"),
    ("owner", "/systems/{slug}/evidence/requirements/"),
    ("owner", "/systems/{slug}/decisions/new/"),
    ("owner", "/systems/{slug}/waivers/new/"),
    ("legal", "/reviews/{review}/"),
]


def post_forms(html: str, page: str) -> list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]]:
    """(action, fields, buttons) of each POST form, textareas as a browser sends them."""
    parser = _FormParser()
    parser.feed(html)
    textareas = set(re.findall(r'<textarea[^>]*\bname="([^"]+)"', html))
    found = []
    for form in parser.forms:
        if (form.attrs.get("method") or "get").lower() != "post":
            continue
        action = (form.attrs.get("action") or page).replace("&amp;", "&")
        if "logout" in action or not action.startswith("/"):
            continue
        fields = [(name, crlf(value) if name in textareas else value) for name, value in form.fields]
        found.append((action, fields, form.buttons))
    return found


def label_of(action: str) -> str:
    return re.sub(r"/\d+/", "/<id>/", re.sub(r"/systems/[\w-]+/", "/systems/<slug>/", action.split("?")[0]))


# What one input changes, drawn before the page is read (the page changes as earlier inputs land,
# and hypothesis needs the same draws to mean the same input): which form and button, then per
# edit which field (an index into the form's names, or a field it does not have), how, and the value.
edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 9), hostile_values,
                           st.lists(hostile_values, min_size=2, max_size=3)), min_size=1, max_size=4)


@pytest.mark.parametrize(("persona", "template"), PAGES, ids=[f"{p}:{t}" for p, t in PAGES])
@given(pick=st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), changes=edits)
@FUZZ
def test_fuzz_form(client: Any, personas: dict[str, Any], world: dict[str, Any], persona: str, template: str,
                   pick: tuple[int, int], changes: list[tuple[int, int, str, list[str]]]) -> None:
    page = template.format(**world)
    client.force_login(personas[persona])
    response = client.get(page)
    assert response.status_code < 500
    if response.status_code != 200:
        return  # an earlier input moved the object on (submitted, decided): nothing to post here now
    forms = post_forms(response.content.decode(), page)
    if not forms:
        return  # test_every_page_offers_a_form checks the pages have forms to begin with
    action, fields, buttons = forms[pick[0] % len(forms)]
    names = sorted({name for name, _ in fields} | {name for name, _ in buttons}) + ["unexpected_field"]
    sent: dict[str, Any] = {}
    for name, value in fields:
        sent[name] = [*sent[name], value] if isinstance(sent.get(name), list) else (
            [sent[name], value] if name in sent else value)
    if buttons:
        name, value = buttons[pick[1] % len(buttons)]
        sent[name] = value
    for index, roll, value, values in changes:
        name = names[index % len(names)]
        if roll == 0:
            sent.pop(name, None)
        elif roll == 1:
            sent[name] = values
        else:
            sent[name] = value
    count(f"form {label_of(action)}")
    # Lone surrogates cannot travel in a UTF-8 body (a browser cannot send them either).
    body = {k: [x.encode("utf-8", "replace").decode() for x in v] if isinstance(v, list)
            else v.encode("utf-8", "replace").decode() for k, v in sent.items()}
    answer = client.post(action, body)
    assert answer.status_code < 500, (action, body)
    if answer.status_code in (301, 302, 303):
        assert client.get(answer["Location"]).status_code < 500


def test_every_page_offers_a_form(client: Any, personas: dict[str, Any], world: dict[str, Any]) -> None:
    """The fuzzed pages still carry the forms they are fuzzed for (a redesign cannot empty the test)."""
    empty = []
    for persona, template in PAGES:
        page = template.format(**world)
        client.force_login(personas[persona])
        response = client.get(page)
        if response.status_code != 200 or not post_forms(response.content.decode(), page):
            empty.append(f"{persona} {page} ({response.status_code})")
    assert not empty, empty
