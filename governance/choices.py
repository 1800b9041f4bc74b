"""Review, decision-record and readiness states with their allowed moves."""

from django.db import models


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


REVIEW_TRANSITIONS: dict[str, frozenset[str]] = {
    ReviewStatus.OPEN: frozenset({ReviewStatus.APPROVED, ReviewStatus.REJECTED, ReviewStatus.CHANGES_REQUESTED}),
    ReviewStatus.CHANGES_REQUESTED: frozenset({ReviewStatus.OPEN}),
    # An approval reopens when what it was pinned to (answers, model, card) changes materially.
    ReviewStatus.APPROVED: frozenset({ReviewStatus.OPEN}),
    ReviewStatus.REJECTED: frozenset(),
}
REVIEW_DECISIONS = (ReviewStatus.APPROVED, ReviewStatus.REJECTED, ReviewStatus.CHANGES_REQUESTED)


class DecisionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


DECISION_TRANSITIONS: dict[str, frozenset[str]] = {
    DecisionStatus.PROPOSED: frozenset({DecisionStatus.ACCEPTED, DecisionStatus.REJECTED}),
    DecisionStatus.ACCEPTED: frozenset({DecisionStatus.SUPERSEDED}),
    DecisionStatus.REJECTED: frozenset(),
    DecisionStatus.SUPERSEDED: frozenset(),
}


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    BLOCK = "block", "Block"


class RequirementStatus(models.TextChoices):
    MET = "met", "Met"
    MISSING = "missing", "Missing"
    FAILED = "failed", "Failed"
    STALE = "stale", "Stale"
    WAIVED = "waived", "Waived"


PASSING_STATUSES = frozenset({RequirementStatus.MET, RequirementStatus.WAIVED})


class WaiverStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


WAIVER_TRANSITIONS: dict[str, frozenset[str]] = {
    WaiverStatus.REQUESTED: frozenset({WaiverStatus.APPROVED, WaiverStatus.REJECTED, WaiverStatus.REVOKED}),
    WaiverStatus.APPROVED: frozenset({WaiverStatus.REVOKED, WaiverStatus.EXPIRED}),
    WaiverStatus.REJECTED: frozenset(),
    WaiverStatus.REVOKED: frozenset(),
    WaiverStatus.EXPIRED: frozenset(),
}


class ExportKind(models.TextChoices):
    MODEL_CARD = "model_card", "Model card"
    DECISION = "decision", "Decision record"
    DOSSIER = "dossier", "Audit dossier"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
