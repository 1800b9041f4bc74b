"""The request timeline: comments (Markdown, sanitized), attachments (limited, stored safely,
served only to those who may see the request) and what is still needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clearance.errors import DomainError
from clearance.models import Notification
from governance.models import Review
from governance.services.reviews import review_claim
from intake import services
from intake.models import Attachment, TimelineEntry

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert('x')</script>hello",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="#" onclick="alert(1)">link</a>',
    "<svg/onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
]


@pytest.fixture(autouse=True)
def _attachments_in_tmp(settings, tmp_path):
    settings.ATTACHMENT_DIR = tmp_path / "attachments"
    settings.ATTACHMENT_MAX_BYTES = 1024


def test_markdown_renders_and_script_payloads_render_inert(client, request_in_review, personas):
    client.force_login(personas["requester"])
    client.post(f"/requests/{request_in_review.pk}/comments/", {"body": "**bold** and a [link](https://example.com)"})
    for payload in PAYLOADS:
        response = client.post(f"/requests/{request_in_review.pk}/comments/", {"body": payload})
        assert response.status_code == 302
    html = client.get(f"/requests/{request_in_review.pk}/").content.decode()
    timeline = html[html.index('id="timeline"'):]
    assert "<strong>bold</strong>" in timeline and 'href="https://example.com"' in timeline
    lowered = timeline.lower()
    for needle in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<svg"):
        assert needle not in lowered, needle
    assert TimelineEntry.objects.filter(request=request_in_review).count() == len(PAYLOADS) + 1


def test_a_reviewer_question_notifies_the_requester_and_the_answer_notifies_the_reviewer(request_in_review, personas):
    review_claim(actor=personas["security"], review=Review.objects.get(request=request_in_review, kind="security"))
    services.request_comment(actor=personas["security"], request=request_in_review, body="Which SSO?", kind="question")
    assert Notification.objects.filter(recipient=personas["requester"], subject__startswith="Question on").exists()
    entry = services.request_comment(actor=personas["requester"], request=request_in_review, body="Okta.",
                                     kind="answer")
    assert entry.kind == "answer"
    assert Notification.objects.filter(recipient=personas["security"], subject__startswith="New comment").exists()
    with pytest.raises(DomainError) as info:
        services.request_comment(actor=personas["security"], request=request_in_review, body="   ")
    assert info.value.field == "body"


def test_empty_comment_is_refused_by_field(client, request_in_review, personas):
    client.force_login(personas["requester"])
    response = client.post(f"/requests/{request_in_review.pk}/comments/", {"body": ""})
    assert response.status_code == 400
    assert 'id="id_body_error"' in response.content.decode()
    assert not TimelineEntry.objects.exists()


def test_attachment_is_stored_under_a_generated_name_and_served_only_to_readers(client, request_in_review,
                                                                                 personas, settings):
    client.force_login(personas["requester"])
    upload = SimpleUploadedFile("../../etc/DPIA notes.pdf", b"%PDF-1.7\n...", content_type="application/pdf")
    response = client.post(f"/requests/{request_in_review.pk}/attachments/", {"file": upload})
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    stored = Path(settings.ATTACHMENT_DIR) / attachment.stored_name
    assert stored.read_bytes() == b"%PDF-1.7\n..." and attachment.original_name == "DPIA notes.pdf"
    assert "DPIA" not in attachment.stored_name and "/" not in attachment.stored_name
    page = client.get(f"/requests/{request_in_review.pk}/").content.decode()
    assert f"/attachments/{attachment.pk}/" in page
    download = client.get(f"/attachments/{attachment.pk}/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.7\n..."
    assert 'attachment; filename="DPIA notes.pdf"' in download["Content-Disposition"]
    client.force_login(personas["outsider"])
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404


@pytest.mark.parametrize(("name", "content", "message"), [
    ("big.pdf", b"%PDF-" + b"x" * 2000, "the limit is"),
    ("tool.exe", b"MZ....", "cannot be attached"),
    ("fake.pdf", b"MZ not a pdf", "not PDF"),
    ("notes.txt", b"binary\x00junk", "not TXT"),
])
def test_oversized_or_disallowed_files_are_refused_and_nothing_is_stored(client, request_in_review, personas,
                                                                         settings, name, content, message):
    client.force_login(personas["requester"])
    response = client.post(f"/requests/{request_in_review.pk}/attachments/",
                           {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'id="id_file_error"' in response.content.decode()
    assert not Attachment.objects.exists()
    directory = Path(settings.ATTACHMENT_DIR)
    assert not directory.exists() or not any(directory.iterdir())


def test_timeline_shows_status_changes_and_what_is_still_needed(client, request_in_review, personas):
    client.force_login(personas["requester"])
    html = client.get(f"/requests/{request_in_review.pk}/").content.decode()
    for label in ("Submitted", "Triage started", "Risk tier confirmed", "Reviews started"):
        assert label in html
    assert "What is still needed" in html and "Security review decides (not yet claimed" in html
