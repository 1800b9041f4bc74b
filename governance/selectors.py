"""Reads that are more than one queryset call: the facts snapshot, queues, readiness views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.choices import ModelCardStatus
from catalog.models import AISystem, ModelCard
from governance.choices import DecisionStatus, WaiverStatus
from governance.evidence import cost_fact, evidence_facts_many
from governance.models import DecisionRecord, Review, Waiver
from governance.policy.engine import Evaluation, evaluate
from governance.policy.facts import ApprovalFact, EvalFact, EvalTarget, SystemFacts, WaiverFact
from governance.policy.loader import Policy, load_readiness_policy


def with_fact_columns(queryset: QuerySet[AISystem]) -> QuerySet[AISystem]:
    """Annotate the latest published model card and the accepted decision count, so the facts
    snapshot needs two queries fewer (the gate's hot path)."""
    published = ModelCard.objects.filter(system=OuterRef("pk"), status=ModelCardStatus.PUBLISHED).order_by("-version")
    accepted = (DecisionRecord.objects.filter(system=OuterRef("pk"), status=DecisionStatus.ACCEPTED)
                .order_by().values("system").annotate(n=Count("pk")).values("n"))
    return queryset.annotate(
        facts_card_version=Subquery(published.values("version")[:1]),
        facts_card_published_at=Subquery(published.values("published_at")[:1]),
        facts_accepted_decisions=Coalesce(Subquery(accepted), 0),
    )


def system_for_facts(slug: str, user: Any) -> AISystem | None:
    return with_fact_columns(
        AISystem.objects.visible_to(user)
        .select_related("business_owner", "technical_owner", "risk_owner")
        .filter(slug=slug)
    ).first()


def reviews_of_system(system: AISystem) -> QuerySet[Review]:
    return Review.objects.filter(Q(system=system) | Q(request__system=system))


def collect_facts(system: AISystem) -> SystemFacts:
    """A snapshot of everything the policy may read about one system (six queries, four for a
    system from ``with_fact_columns``, plus one per extra metric requirement)."""
    owners = {"business": system.business_owner, "technical": system.technical_owner, "risk": system.risk_owner}
    if hasattr(system, "facts_accepted_decisions"):  # annotated by with_fact_columns
        version = system.facts_card_version
        card = {"version": version, "published_at": system.facts_card_published_at} if version else None
        accepted = system.facts_accepted_decisions
    else:
        card = (
            ModelCard.objects.filter(system=system, status=ModelCardStatus.PUBLISHED)
            .order_by("-version")
            .values("version", "published_at")
            .first()
        )
        accepted = DecisionRecord.objects.filter(system=system, status=DecisionStatus.ACCEPTED).count()
    approvals = tuple(
        ApprovalFact(
            kind=row["kind"],
            status=row["status"],
            decided_at=row["decided_at"],
            expires_at=row["expires_at"],
            decided_by=row["decided_by__username"] or "",
        )
        for row in reviews_of_system(system).values(
            "kind", "status", "decided_at", "expires_at", "decided_by__username"
        )
    )
    targets, latest = evidence_facts(system)
    return SystemFacts(
        slug=system.slug,
        risk_tier=system.risk_tier,
        lifecycle_stage=system.lifecycle_stage,
        data_categories=tuple(system.data_categories),
        owners={role: (user.get_username() if user else None) for role, user in owners.items()},
        inactive_owners=tuple(user.get_username() for user in owners.values() if user and not user.is_active),
        published_model_card=card["version"] if card else None,
        model_card_published_at=card["published_at"] if card else None,
        approvals=approvals,
        accepted_decisions=accepted,
        eval_target=targets[0] if targets else None,
        latest_eval=latest[0] if latest else None,
        eval_targets=targets,
        eval_latest=latest,
        cost=cost_fact(system),
        model_version=system.model_version,
        runbook_url=system.runbook_url,
        waivers=waiver_facts(system),
        collected_at=timezone.now(),
    )


def waiver_facts(system: AISystem) -> tuple[WaiverFact, ...]:
    """The system's approved waivers that have not yet ended (the engine checks the moment itself)."""
    rows = (Waiver.objects.filter(system=system, status=WaiverStatus.APPROVED, expires_at__gt=timezone.now())
            .values("pk", "requirement", "expires_at", "decided_by__username", "justification"))
    return tuple(WaiverFact(r["requirement"], r["expires_at"], r["decided_by__username"] or "", r["justification"],
                            r["pk"]) for r in rows)


def evidence_facts(system: AISystem) -> tuple[tuple[EvalTarget, ...], tuple[EvalFact | None, ...]]:
    """Each metric requirement (the system's primary metric first) and its latest matching result."""
    return evidence_facts_many([system])[system.pk]


def readiness_by_environment(
    system: AISystem, now: datetime, policy: Policy | None = None
) -> tuple[Policy, dict[str, Evaluation]]:
    """Evaluate every environment of the active policy (raises PolicyError: callers fail closed)."""
    policy = policy or load_readiness_policy()
    facts = collect_facts(system)
    return policy, {env: evaluate(policy, env, facts, now) for env in policy.environments}

