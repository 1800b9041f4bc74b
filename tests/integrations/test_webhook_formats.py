"""Slack and Teams bodies against schemas written from their documentation (tests/integrations/schemas/,
sources in each schema's $comment and in docs/webhooks.md), for every event kind and for hostile
text; the schemas themselves accept the documented example shapes and refuse what the docs refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.utils import timezone

from integrations.choices import EventKind, WebhookFormat
from integrations.formats import render, slack_escape, teams_escape
from integrations.models import WebhookEvent

SCHEMAS = Path(__file__).resolve().parent / "schemas"
SLACK = json.loads((SCHEMAS / "slack_incoming_webhook.schema.json").read_text())
TEAMS = json.loads((SCHEMAS / "teams_incoming_webhook.schema.json").read_text())
HOSTILE = "<!channel> *ALL* hands & <https://evil.example|click> [x](https://evil.example) _it_ {{DATE(x)}} `code`"


def event(kind: str, **overrides: Any) -> WebhookEvent:
    fields: dict[str, Any] = {
        "kind": kind, "occurred_at": timezone.now(), "actor_repr": "sam",
        "subject_type": "intake.usecaserequest", "subject_id": "7", "subject_repr": "Claims triage",
        "subject_url": "http://127.0.0.1:8000/requests/7/", "summary": "Sam submitted REQ-0007: Claims triage",
        "payload": {"reference": "REQ-0007", "suggested_tier": "high", "changed": ["Model version", "Model card"],
                    "nested": {"ignored": True}, "empty": ""},
    }
    return WebhookEvent(**(fields | overrides))


def validate(schema: dict[str, Any], body: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(body)


@pytest.mark.parametrize("kind", [k.value for k in EventKind])
def test_every_kind_renders_a_valid_slack_and_teams_body(kind):
    validate(SLACK, render(WebhookFormat.SLACK, event(kind), "d-1"))
    validate(TEAMS, render(WebhookFormat.TEAMS, event(kind), "d-1"))
    generic = render(WebhookFormat.GENERIC, event(kind), "d-1")
    assert generic["type"] == kind and generic["delivery_id"] == "d-1"
    json.dumps(generic)


def test_long_and_hostile_text_stays_valid_and_inert_in_slack():
    long = event("request.submitted", subject_repr="R" * 400, summary=HOSTILE + " " + "x" * 5000,
                 payload={f"k{i}": "v" * 3000 for i in range(15)})
    body = render(WebhookFormat.SLACK, long, "d")
    validate(SLACK, body)
    hostile = render(WebhookFormat.SLACK, event("request.submitted", subject_repr=HOSTILE, summary=HOSTILE), "d")
    validate(SLACK, hostile)
    section = hostile["blocks"][1]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section
    assert "&amp;" in section and "<https://evil" not in section
    assert "<!channel>" not in hostile["text"] and "&lt;!channel&gt;" in hostile["text"]
    # The link Clearance adds itself is the only angle-bracket token left in the message.
    context = hostile["blocks"][-1]["elements"][0]["text"]
    assert context.startswith("<http://127.0.0.1:8000/requests/7/|Open in Clearance>")


def test_hostile_text_is_escaped_in_teams():
    body = render(WebhookFormat.TEAMS, event("review.decided", subject_repr=HOSTILE, summary="- not a list\n1. nor this"),
                  "d")
    validate(TEAMS, body)
    card = body["attachments"][0]["content"]
    title = card["body"][0]["text"]
    assert "[x](https" not in title and "\\[x\\]\\(https" in title
    assert "\\*ALL\\*" in title and "\\{\\{DATE\\(x\\)\\}\\}" in title and "\\_it\\_" in title
    assert card["body"][1]["text"] == "\\- not a list\n1\\. nor this"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Clearance",
                                "url": "http://127.0.0.1:8000/requests/7/"}]


def test_escapers_follow_the_documented_rules():
    assert slack_escape("a & b < c > d * _ ~") == "a &amp; b &lt; c &gt; d * _ ~", "only &, <, > (Slack's rule)"
    assert teams_escape("**bold** [l](u)") == "\\*\\*bold\\*\\* \\[l\\]\\(u\\)"


def test_chat_bodies_show_the_details_as_labelled_facts():
    slack = render(WebhookFormat.SLACK, event("request.submitted"), "d")
    fields = [f["text"] for f in slack["blocks"][2]["fields"]]
    assert "*Reference*\nREQ-0007" in fields and "*Changed*\nModel version, Model card" in fields
    assert "*By*\nsam" in fields and not any("Nested" in f or "Empty" in f for f in fields)
    teams = render(WebhookFormat.TEAMS, event("request.submitted"), "d")
    facts = teams["attachments"][0]["content"]["body"][2]["facts"]
    assert {"title": "Suggested tier", "value": "high"} in facts


# The shapes the documentation shows, in our own words: the schemas accept them...
SLACK_DOC_SHAPES = [
    {"text": "Hello from the release train"},
    {"text": "New review", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "A reviewer left a note:"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Status*\nApproved"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://example.com|Open>"}]}]},
]
TEAMS_DOC_SHAPE = {"type": "message", "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
    "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.2", "body": [{"type": "TextBlock", "text": "See the samples"}]}}]}


def test_the_schemas_accept_the_documented_shapes():
    for shape in SLACK_DOC_SHAPES:
        validate(SLACK, shape)
    validate(TEAMS, TEAMS_DOC_SHAPE)


# ...and refuse what the documentation rules out, so they can fail.
@pytest.mark.parametrize(("schema", "body"), [
    (SLACK, {"blocks": [{"type": "divider"}]}),  # no text fallback
    (SLACK, {"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]}),
    (SLACK, {"text": "t", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}]}),
    (SLACK, {"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]}),
    (SLACK, {"text": "t", "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]}),
    (SLACK, {"text": "t", "blocks": [{"type": "section"}]}),
    (TEAMS, {"type": "AdaptiveCard", "body": []}),  # a bare card, not the message envelope
    (TEAMS, {**TEAMS_DOC_SHAPE, "attachments": [{**TEAMS_DOC_SHAPE["attachments"][0], "contentType": "application/json"}]}),
    (TEAMS, {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
             "content": {"type": "AdaptiveCard", "version": "1.2", "body": [{"type": "TextBlock", "text": "x"}],
                         "actions": [{"type": "Action.Submit", "title": "Go"}]}}]}),
])
def test_the_schemas_refuse_what_the_docs_rule_out(schema, body):
    with pytest.raises(jsonschema.ValidationError):
        validate(schema, body)
