"""The body of a delivery, per format: generic JSON, Slack incoming webhook, Microsoft Teams
incoming webhook.

Slack: ``text`` (the notification fallback, mrkdwn) plus ``blocks`` (Block Kit: a header, a section
with the summary, a section of fields, a context line with the link). In every mrkdwn text, ``&``,
``<`` and ``>`` are replaced by their HTML entities, as Slack's formatting reference asks, so a
title cannot smuggle in a ``<!channel>`` mention or a link.

Teams: the incoming-webhook envelope (``{"type": "message", "attachments": [...]}``) holding one
Adaptive Card (``application/vnd.microsoft.card.adaptive``, version 1.2): title, summary, a FactSet,
an Action.OpenUrl. TextBlocks render a Markdown subset, so user text has its Markdown characters
escaped with a backslash.

docs/webhooks.md records the sources of both formats; tests/integrations/test_webhook_formats.py checks the
bodies against schemas written from them.
"""

from __future__ import annotations

import re
from typing import Any

from integrations.choices import EventKind, WebhookFormat
from integrations.models import WebhookEvent

# Block Kit limits (Slack's block reference): header text 150 characters, section text 3000, a
# section's fields at most 10 of at most 2000 characters each.
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELDS_MAX = 10
SLACK_FIELD_MAX = 2000
FACTS_MAX = 10


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_TEAMS_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
_LINE_START_DASH = re.compile(r"(?m)^(\s*)-")
_LINE_START_NUMBER = re.compile(r"(?m)^(\s*)(\d+)\.")


def teams_escape(text: str) -> str:
    """Markdown characters of an Adaptive Card TextBlock, backslash-escaped, and a line that would
    start a list kept as text (Markdown escapes punctuation only: "1\\." not "\\1.")."""
    escaped = _TEAMS_MARKDOWN.sub(r"\\\1", text)
    escaped = _LINE_START_DASH.sub(lambda m: m.group(1) + "\\-", escaped)
    return _LINE_START_NUMBER.sub(lambda m: m.group(1) + m.group(2) + "\\.", escaped)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title_of(event: WebhookEvent) -> str:
    return f"{EventKind(event.kind).label}: {event.subject_repr}" if event.subject_repr else EventKind(event.kind).label


def facts_of(event: WebhookEvent) -> list[tuple[str, str]]:
    """The event's scalar details as (label, value), for chat: the kind's own data, then who."""
    facts: list[tuple[str, str]] = []
    for key, value in event.payload.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value is None or isinstance(value, dict) or value == "":
            continue
        facts.append((key.replace("_", " ").capitalize(), str(value)))
    if event.actor_repr:
        facts.append(("By", event.actor_repr))
    return facts[:FACTS_MAX]


def generic_body(event: WebhookEvent, delivery_uuid: str) -> dict[str, Any]:
    return {
        "version": 1,
        "id": str(event.uuid),
        "delivery_id": delivery_uuid,
        "type": event.kind,
        "occurred_at": event.occurred_at.isoformat(),
        "summary": event.summary,
        "subject": {"type": event.subject_type, "id": event.subject_id, "name": event.subject_repr,
                    "url": event.subject_url},
        "actor": {"username": event.actor_repr} if event.actor_repr else None,
        "data": event.payload,
    }


def slack_body(event: WebhookEvent, delivery_uuid: str) -> dict[str, Any]:
    title = title_of(event)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, SLACK_HEADER_MAX), "emoji": False}},
    ]
    if event.summary:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _clip(slack_escape(event.summary), SLACK_TEXT_MAX)}})
    fields = [{"type": "mrkdwn", "text": _clip(f"*{slack_escape(label)}*\n{slack_escape(value)}", SLACK_FIELD_MAX)}
              for label, value in facts_of(event)[:SLACK_FIELDS_MAX]]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    context = f"Clearance event `{event.uuid}`"
    if event.subject_url:
        # The link is ours (SITE_URL and a path), but escaped like any text all the same.
        context = f"<{slack_escape(event.subject_url)}|Open in Clearance> · " + context
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _clip(slack_escape(title), SLACK_TEXT_MAX), "blocks": blocks}


def teams_body(event: WebhookEvent, delivery_uuid: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": teams_escape(title_of(event)), "weight": "Bolder", "size": "Medium", "wrap": True},
    ]
    if event.summary:
        body.append({"type": "TextBlock", "text": teams_escape(event.summary), "wrap": True})
    facts = [{"title": teams_escape(label), "value": teams_escape(value)} for label, value in facts_of(event)]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    body.append({"type": "TextBlock", "text": f"Clearance event {event.uuid}", "isSubtle": True, "size": "Small",
                 "wrap": True})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": body,
    }
    if event.subject_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Clearance", "url": event.subject_url}]
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


BUILDERS = {WebhookFormat.GENERIC: generic_body, WebhookFormat.SLACK: slack_body, WebhookFormat.TEAMS: teams_body}


def render(fmt: str, event: WebhookEvent, delivery_uuid: str) -> dict[str, Any]:
    return BUILDERS[WebhookFormat(fmt)](event, delivery_uuid)
