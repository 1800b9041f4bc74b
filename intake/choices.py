"""Request states, the moves between them, and the questionnaire's answer sets."""

from django.db import models


class RequestStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    TRIAGE = "triage", "In triage"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    WITHDRAWN = "withdrawn", "Withdrawn"


S = RequestStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.TRIAGE, S.WITHDRAWN}),
    S.TRIAGE: frozenset({S.IN_REVIEW, S.REJECTED, S.CHANGES_REQUESTED, S.WITHDRAWN}),
    S.IN_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED, S.WITHDRAWN}),
    S.CHANGES_REQUESTED: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    # An approval that lapses after a material change (answers, model, model card) reopens review.
    S.APPROVED: frozenset({S.IN_REVIEW}),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
TERMINAL = frozenset(state for state, moves in TRANSITIONS.items() if not moves)
# The requester may edit the answers only while the request is theirs to change.
EDITABLE = frozenset({S.DRAFT, S.CHANGES_REQUESTED})


class Alternative(models.TextChoices):
    RULES = "rules", "Rules or a deterministic workflow"
    CLASSICAL_ML = "classical_ml", "Classical machine learning"
    NO_AI = "no_ai", "No AI: process change or staffing"
    OFF_THE_SHELF = "off_the_shelf", "An existing product feature"


class AnnexIIIArea(models.TextChoices):
    NONE = "none", "None of these"
    BIOMETRICS = "biometrics", "Biometric identification or categorisation"
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure", "Critical infrastructure"
    EDUCATION = "education", "Education or vocational training"
    EMPLOYMENT = "employment", "Employment, workers management, recruitment"
    ESSENTIAL_SERVICES = "essential_services", "Essential services, credit scoring, insurance"
    LAW_ENFORCEMENT = "law_enforcement", "Law enforcement"
    MIGRATION = "migration", "Migration, asylum, border control"
    JUSTICE = "justice", "Administration of justice, democratic processes"


class ProhibitedPractice(models.TextChoices):
    MANIPULATION = "manipulation", "Subliminal or manipulative techniques that distort behaviour"
    EXPLOIT_VULNERABILITY = "exploit_vulnerability", "Exploiting vulnerabilities of age, disability or situation"
    SOCIAL_SCORING = "social_scoring", "Social scoring"
    CRIME_PREDICTION = "crime_prediction", "Predicting crime from profiling alone"
    FACE_SCRAPING = "face_scraping", "Untargeted scraping of facial images"
    EMOTION_WORKPLACE = "emotion_workplace", "Emotion recognition at work or in education"
    BIOMETRIC_CATEGORISATION = "biometric_categorisation", "Inferring sensitive traits from biometrics"
    REALTIME_REMOTE_BIOMETRIC = "realtime_remote_biometric", "Real-time remote biometric identification in public"


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Performance of a contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"


class TimelineKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    QUESTION = "question", "Question from a reviewer"
    ANSWER = "answer", "Answer from the requester"
