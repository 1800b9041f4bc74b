"""The facts snapshot the policy engine judges, for one system (the gate) or for a page of systems at
once (the evidence portfolio) through the same code, in a number of queries that does not grow with
the number of systems."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.choices import ModelCardStatus
from catalog.models import AISystem, CostBudget, CostRecord, EvalResult, MetricRequirement, ModelCard
from governance.choices import DecisionStatus, WaiverStatus
from governance.models import DecisionRecord, Review, Waiver
from governance.policy.facts import (
    ApprovalFact,
    CostFact,
    EvalFact,
    EvalTarget,
    IncidentFact,
    RiskFact,
    SystemFacts,
    WaiverFact,
)
from risks.choices import INCIDENT_OPEN, AcceptanceStatus
from risks.models import Incident, Risk, RiskAcceptance, appetite, risk_snapshot, snapshot_fingerprint


@dataclass(frozen=True)
class FactsExtension:
    """Facts an app that builds on governance adds to every snapshot (compliance: the operator role and
    attestations), under ``SystemFacts.extra[name]``. ``columns`` are annotations ``for_facts`` adds so
    that ``collect`` can skip systems with nothing to read (no query for them)."""

    name: str
    columns: Callable[[], dict[str, Any]]
    collect: Callable[[dict[int, AISystem], datetime], dict[int, Any]]


FACTS_EXTENSIONS: dict[str, FactsExtension] = {}


def register_facts_extension(extension: FactsExtension) -> None:
    """Called from an app's ``ready()``: governance may not import the apps built on it."""
    FACTS_EXTENSIONS[extension.name] = extension


def with_fact_columns(queryset: QuerySet[AISystem]) -> QuerySet[AISystem]:
    """Annotate the latest published model card, the accepted decision count and the number of linked
    risks, so the facts snapshot needs two queries fewer (the gate's hot path), and none for the risk
    register of a system that has no risk."""
    published = ModelCard.objects.filter(system=OuterRef("pk"), status=ModelCardStatus.PUBLISHED).order_by("-version")
    accepted = (DecisionRecord.objects.filter(system=OuterRef("pk"), status=DecisionStatus.ACCEPTED)
                .order_by().values("system").annotate(n=Count("pk")).values("n"))
    links: Any = Risk.systems.through.objects  # the stubs do not see annotations on an auto-created link table
    linked_risks = links.filter(aisystem_id=OuterRef("pk")).order_by().values("aisystem_id").annotate(
        n=Count("pk")).values("n")
    extended = {name: column for ext in FACTS_EXTENSIONS.values() for name, column in ext.columns().items()}
    incident_links: Any = Incident.systems.through.objects
    open_incidents = incident_links.filter(aisystem_id=OuterRef("pk"), incident__status__in=INCIDENT_OPEN).order_by(
        ).values("aisystem_id").annotate(n=Count("pk")).values("n")
    return queryset.annotate(
        **extended,
        facts_risks=Coalesce(Subquery(linked_risks), 0),
        facts_open_incidents=Coalesce(Subquery(open_incidents), 0),
        facts_card_version=Subquery(published.values("version")[:1]),
        facts_card_published_at=Subquery(published.values("published_at")[:1]),
        facts_accepted_decisions=Coalesce(Subquery(accepted), 0),
    )


def system_for_facts(slug: str, user: User | AnonymousUser) -> AISystem | None:
    return for_facts(AISystem.objects.visible_to(user).filter(slug=slug)).first()


def for_facts(queryset: QuerySet[AISystem]) -> QuerySet[AISystem]:
    """Systems read with what their facts need in the same query: owners and the annotations above."""
    return with_fact_columns(queryset.select_related("business_owner", "technical_owner", "risk_owner"))


def collect_facts(system: AISystem) -> SystemFacts:
    """A snapshot of everything the policy may read about one system (six queries, four for a
    system from ``with_fact_columns``, plus one when it has metric requirements with results)."""
    return collect_facts_many([system])[system.pk]


def collect_facts_many(systems: Iterable[AISystem], now: datetime | None = None) -> dict[int, SystemFacts]:
    """The facts snapshot of each system, in a number of queries that does not grow with the number of
    systems: approvals, metric requirements and results (three), budgets, waivers, risks, plus two for the
    systems not read through ``for_facts``. The same snapshot, field for field, as the gate's: the gate
    reads one system through this function too. Pass systems with their owners joined (``for_facts``),
    or each owner costs a query."""
    by_id = {s.pk: s for s in systems}
    if not by_id:
        return {}
    now = now or timezone.now()
    plain = [pk for pk, s in by_id.items() if not hasattr(s, "facts_accepted_decisions")]
    cards: dict[int, Mapping[str, Any]] = {}
    accepted: dict[int, int] = {pk: 0 for pk in plain}
    if plain:
        for card_row in (ModelCard.objects.filter(system__in=plain, status=ModelCardStatus.PUBLISHED)
                         .order_by("system", "-version").values("system_id", "version", "published_at")):
            cards.setdefault(card_row["system_id"], card_row)
        accepted |= dict(DecisionRecord.objects.filter(system__in=plain, status=DecisionStatus.ACCEPTED).order_by()
                         .values_list("system").annotate(n=Count("pk")))
    approvals: dict[int, list[ApprovalFact]] = {pk: [] for pk in by_id}
    for row in (Review.objects.filter(Q(system__in=list(by_id)) | Q(request__system__in=list(by_id)))
                .values("system_id", "request__system_id", "kind", "status", "decided_at", "expires_at",
                        "decided_by__username")):
        fact = ApprovalFact(kind=row["kind"], status=row["status"], decided_at=row["decided_at"],
                            expires_at=row["expires_at"], decided_by=row["decided_by__username"] or "")
        # A review counts for its own system and for the system its request became.
        for pk in {row["system_id"], row["request__system_id"]} & by_id.keys():
            approvals[pk].append(fact)
    evidence = evidence_facts_many(by_id.values())
    costs = cost_facts_many(list(by_id), now)
    # Systems read through for_facts say how many risks they have; the register is read (one query)
    # only for those with some, and for systems read without the annotation.
    with_risks = [pk for pk, s in by_id.items() if getattr(s, "facts_risks", 1)]
    risks = risk_facts_many(with_risks, now) if with_risks else {}
    # The same for open incidents: read only for systems that have some (or were read without the count).
    with_incidents = [pk for pk, s in by_id.items() if getattr(s, "facts_open_incidents", 1)]
    incidents = incident_facts_many(with_incidents) if with_incidents else {}
    waivers: dict[int, list[WaiverFact]] = {pk: [] for pk in by_id}
    for waiver_row in (Waiver.objects.filter(system__in=list(by_id), status=WaiverStatus.APPROVED, expires_at__gt=now)
                       .values("system_id", "pk", "requirement", "expires_at", "decided_by__username", "justification")):
        waivers[waiver_row["system_id"]].append(WaiverFact(waiver_row["requirement"], waiver_row["expires_at"],
                                                           waiver_row["decided_by__username"] or "",
                                                           waiver_row["justification"], waiver_row["pk"]))
    extra: dict[int, dict[str, Any]] = {pk: {} for pk in by_id}
    for extension in FACTS_EXTENSIONS.values():
        for pk, value in extension.collect(by_id, now).items():
            extra[pk][extension.name] = value
    facts: dict[int, SystemFacts] = {}
    for pk, system in by_id.items():
        card: Mapping[str, Any] | None
        if pk in accepted:
            card = cards.get(pk)
            decisions = accepted[pk]
        else:
            columns: Any = system  # the annotated columns are not attributes the model class declares
            version = columns.facts_card_version
            card = {"version": version, "published_at": columns.facts_card_published_at} if version else None
            decisions = columns.facts_accepted_decisions
        owners = {"business": system.business_owner, "technical": system.technical_owner, "risk": system.risk_owner}
        targets, latest = evidence[pk]
        facts[pk] = SystemFacts(
            slug=system.slug,
            risk_tier=system.risk_tier,
            lifecycle_stage=system.lifecycle_stage,
            data_categories=tuple(system.data_categories),
            owners={role: (user.get_username() if user else None) for role, user in owners.items()},
            inactive_owners=tuple(user.get_username() for user in owners.values() if user and not user.is_active),
            owner_names={role: user.get_full_name() or user.get_username() for role, user in owners.items() if user},
            published_model_card=card["version"] if card else None,
            model_card_published_at=card["published_at"] if card else None,
            approvals=tuple(approvals[pk]),
            accepted_decisions=decisions,
            eval_target=targets[0] if targets else None,
            latest_eval=latest[0] if latest else None,
            eval_targets=targets,
            eval_latest=latest,
            cost=costs.get(pk),
            model_version=system.model_version,
            runbook_url=system.runbook_url,
            waivers=tuple(waivers[pk]),
            risks=risks.get(pk, ()),
            risk_appetite=appetite(system.risk_tier),
            incidents=incidents.get(pk, ()),
            collected_at=now,
            extra=extra[pk],
        )
    return facts


Facts = tuple[tuple[EvalTarget, ...], tuple[EvalFact | None, ...]]


def _targets(system: AISystem, requirements: list[MetricRequirement]) -> list[EvalTarget]:
    """The system's primary metric first (refined by its requirement row when there is one), then the rest."""
    targets: list[EvalTarget] = []
    if system.primary_metric and system.metric_threshold is not None and not any(
        r.metric == system.primary_metric for r in requirements
    ):
        targets.append(EvalTarget(system.primary_metric, system.metric_threshold, system.metric_higher_is_better))
    for r in sorted(requirements, key=lambda r: (r.metric != system.primary_metric, r.metric, r.dataset)):
        targets.append(EvalTarget(r.metric, r.threshold, r.higher_is_better, r.dataset, r.max_age_days,
                                  r.baseline_value, r.max_regression, r.require_version_match))
    return targets


def _matches(target: EvalTarget, system: AISystem, dataset: str, model_version: str) -> bool:
    if target.dataset and dataset != target.dataset:
        return False
    # Evidence counts only for the model version being deployed.
    return not (system.model_version and target.require_version_match and model_version != system.model_version)


def evidence_facts_many(systems: Iterable[AISystem]) -> dict[int, Facts]:
    """Each system's metric requirements and the latest matching result of each (three queries)."""
    by_id = {s.pk: s for s in systems}
    requirements: dict[int, list[MetricRequirement]] = {pk: [] for pk in by_id}
    for r in MetricRequirement.objects.filter(system__in=list(by_id)):
        requirements[r.system_id].append(r)
    targets = {pk: _targets(by_id[pk], requirements[pk]) for pk in by_id}
    pairs = {(pk, t.metric) for pk, ts in targets.items() for t in ts}
    latest: dict[int, list[EvalFact | None]] = {pk: [None] * len(ts) for pk, ts in targets.items()}
    if pairs:
        groups = list(
            EvalResult.objects.filter(reduce(or_, (Q(system_id=pk, metric=m) for pk, m in sorted(pairs))))
            .values("system_id", "metric", "dataset", "model_version")
            .annotate(latest=Max("observed_at"))
        )
        wanted: dict[tuple[int, int], datetime] = {}
        for pk, ts in targets.items():
            for i, t in enumerate(ts):
                moments = [g["latest"] for g in groups if g["system_id"] == pk and g["metric"] == t.metric
                           and _matches(t, by_id[pk], g["dataset"], g["model_version"])]
                if moments:
                    wanted[(pk, i)] = max(moments)
        if wanted:
            rows = list(EvalResult.objects.filter(reduce(or_, (
                Q(system_id=pk, metric=targets[pk][i].metric, observed_at=moment) for (pk, i), moment in wanted.items()
            ))).order_by("-pk"))
            for (pk, i), moment in wanted.items():
                t = targets[pk][i]
                row = next(r for r in rows if r.system_id == pk and r.metric == t.metric and r.observed_at == moment
                           and _matches(t, by_id[pk], r.dataset, r.model_version))
                latest[pk][i] = EvalFact(row.metric, row.value, row.observed_at, row.model_version, row.dataset,
                                         row.source, row.source_run_id)
    return {pk: (tuple(targets[pk]), tuple(latest[pk])) for pk in by_id}


def cost_facts_many(system_ids: list[int], now: datetime | None = None) -> dict[int, CostFact]:
    """Per system with a budget: the budget and this month's (UTC) effective cost in its currency (one query)."""
    month_start = (now or timezone.now()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = (
        CostRecord.objects.filter(system=OuterRef("system"), currency=OuterRef("currency"), period_start__gte=month_start)
        .values("system")
        .annotate(total=Sum("effective_cost"))
        .values("total")
    )
    return {
        budget.system_id: CostFact(budget.monthly_amount, budget.currency, Decimal(budget.spent or 0), month_start)
        for budget in CostBudget.objects.filter(system__in=system_ids).annotate(spent=Subquery(spent))
    }


def risk_facts_many(system_ids: list[int], now: datetime, risk_ids: Iterable[int] | None = None
                    ) -> dict[int, tuple[RiskFact, ...]]:
    """Per system, the risks linked to it, each with the system's current acceptance (one query: the
    link table joined to the risk, the acceptance read by subqueries). An acceptance counts only while
    active, unexpired and pinned to the risk's scores and treatment as they are now. ``risk_ids``
    narrows it to some risks (a page of the register)."""
    link = Risk.systems.through
    current = RiskAcceptance.objects.filter(risk=OuterRef("risk_id"), system=OuterRef("aisystem_id"),
                                            status=AcceptanceStatus.ACTIVE, expires_at__gt=now).order_by("-accepted_at")
    # Typed loosely: the stubs do not see annotations on an auto-created link table.
    chosen = link.objects.filter(aisystem_id__in=system_ids)
    if risk_ids is not None:
        chosen = chosen.filter(risk_id__in=list(risk_ids))
    linked: Any = chosen.annotate(
        acc_until=Subquery(current.values("expires_at")[:1]),
        acc_fingerprint=Subquery(current.values("fingerprint")[:1]),
        acc_by=Subquery(current.values("approved_by__username")[:1]))
    rows = (linked.values("aisystem_id", "risk_id", "risk__title", "risk__category", "risk__likelihood", "risk__impact",
                    "risk__residual_likelihood", "risk__residual_impact", "risk__treatment", "acc_until",
                    "acc_fingerprint", "acc_by")
            .order_by("aisystem_id", "risk_id"))
    found: dict[int, list[RiskFact]] = {pk: [] for pk in system_ids}
    for row in rows:
        likelihood, impact = row["risk__likelihood"], row["risk__impact"]
        res_l, res_i = row["risk__residual_likelihood"], row["risk__residual_impact"]
        pinned = snapshot_fingerprint(risk_snapshot(likelihood, impact, res_l, res_i, row["risk__treatment"]))
        still_pinned = row["acc_until"] is not None and row["acc_fingerprint"] == pinned
        found[row["aisystem_id"]].append(RiskFact(
            id=row["risk_id"], title=row["risk__title"], category=row["risk__category"], score=likelihood * impact,
            residual_score=(res_l * res_i) if res_l is not None and res_i is not None else likelihood * impact,
            treatment=row["risk__treatment"],
            accepted_until=row["acc_until"] if still_pinned else None,
            accepted_by=(row["acc_by"] or "") if still_pinned else "",
        ))
    return {pk: tuple(facts) for pk, facts in found.items()}


def incident_facts_many(system_ids: list[int]) -> dict[int, tuple[IncidentFact, ...]]:
    """Per system, its open incidents with their handler (one query: the link table joined to the incident
    and its handler)."""
    link: Any = Incident.systems.through  # the stubs do not see the fields of an auto-created link table
    rows = (link.objects.filter(aisystem_id__in=system_ids, incident__status__in=INCIDENT_OPEN)
            .values("aisystem_id", "incident_id", "incident__title", "incident__severity", "incident__status",
                    "incident__is_serious", "incident__owner__username", "incident__owner__first_name",
                    "incident__owner__last_name")
            .order_by("aisystem_id", "incident_id"))
    found: dict[int, list[IncidentFact]] = {pk: [] for pk in system_ids}
    for row in rows:
        name = f"{row['incident__owner__first_name'] or ''} {row['incident__owner__last_name'] or ''}".strip()
        found[row["aisystem_id"]].append(IncidentFact(
            id=row["incident_id"], title=row["incident__title"], severity=row["incident__severity"],
            status=row["incident__status"], serious=row["incident__is_serious"],
            owner=row["incident__owner__username"] or "", owner_name=name or row["incident__owner__username"] or ""))
    return {pk: tuple(facts) for pk, facts in found.items()}
