"""The portfolio dashboard's measures: each a headline number over the last ``RECENT`` days, judged
against its target where it has one, and a value per calendar month (UTC) over the last ``MONTHS``.

Every measure reads the database in one or two queries whatever the size of the portfolio. A
measure with nothing to count says so (``no_data``) rather than showing 0; one that cannot be
computed (the readiness policy does not load) says why (``missing``) and the others still show.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from catalog.models import CostBudget, CostRecord
from clearance.policyfile import PolicyError
from governance.choices import PASSING_STATUSES, Verdict
from governance.models import GateCheck, ReadinessVerdict, Review
from intake.choices import RequestStatus
from intake.models import UseCaseRequest

MONTHS = 12
RECENT = timedelta(days=90)
PRODUCTION = "production"
GATE_PASS_TARGET = 90.0
DOCUMENTATION_TARGET = 95.0
# The check types whose requirements are documents a system must keep (the rest are approvals,
# evidence thresholds and states): what "documentation completeness" counts.
DOCUMENTATION_CHECKS = frozenset({"model_card_published", "decision_record_accepted", "runbook_linked"})


@dataclass
class Measure:
    key: str
    title: str
    question: str  # what it answers, in a sentence
    value: float | None = None
    display: str = ""  # the headline, in words and numbers
    detail: str = ""  # what the headline counted
    target: float | None = None
    target_text: str = ""
    higher_is_better: bool = True
    unit: str = ""
    no_data: str = ""  # set when there is nothing to measure yet
    missing: str = ""  # set when it cannot be computed now, and why
    series: list[tuple[str, float | None]] = field(default_factory=list)
    series_note: str = ""  # what each month's value counts
    rows: list[tuple[str, int]] = field(default_factory=list)  # a breakdown: label, count

    @property
    def meets(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def months_back(now: datetime, count: int = MONTHS) -> list[datetime]:
    """The first moment (UTC) of each of the last ``count`` calendar months, oldest first."""
    year, month = now.year, now.month
    starts = []
    for _ in range(count):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def month_label(start: datetime) -> str:
    return f"{start:%b} {start:%Y}"


def _month_of(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _pct(part: float, whole: float) -> float | None:
    return None if not whole else 100.0 * part / whole


def _fmt_pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def _fmt_days(days: float) -> str:
    if days < 1:
        hours = days * 24
        return f"{hours:.0f} hour{'' if round(hours) == 1 else 's'}"
    return f"{days:.1f} days"


def _series(starts: list[datetime], values: dict[datetime, float | None]) -> list[tuple[str, float | None]]:
    return [(month_label(s), values.get(s)) for s in starts]


def gate_pass_share(now: datetime, starts: list[datetime]) -> Measure:
    """Share of the production gate calls that answered pass."""
    m = Measure("gate", "Production deploys that passed the gate",
                "Of the gate calls CI made before deploying to production, how many were allowed through?",
                target=GATE_PASS_TARGET, target_text="at least 90%", unit="%",
                series_note="share of the month's production gate calls that passed, in %")
    rows = (GateCheck.objects.filter(environment=PRODUCTION, checked_at__gte=starts[0])
            .annotate(month=TruncMonth("checked_at")).values("month")
            .annotate(total=Count("pk"), passed=Count("pk", filter=Q(verdict=Verdict.PASS))))
    recent = GateCheck.objects.filter(environment=PRODUCTION, checked_at__gte=now - RECENT).aggregate(
        total=Count("pk"), passed=Count("pk", filter=Q(verdict=Verdict.PASS)))
    m.series = _series(starts, {_month_of(r["month"]): _pct(r["passed"], r["total"]) for r in rows})
    total, passed = recent["total"] or 0, recent["passed"] or 0
    if not total:
        m.no_data = "No production gate call in the last 90 days."
        return m
    m.value = _pct(passed, total)
    m.display = _fmt_pct(m.value)
    m.detail = f"{passed:,} of {total:,} production gate calls passed in the last 90 days"
    return m


def _documentation_share(requirements: Iterable[dict[str, Any]], ids: Callable[[dict[str, Any]], bool]) -> tuple[int, int]:
    met = total = 0
    for req in requirements:
        if ids(req):
            total += 1
            met += req.get("status") in PASSING_STATUSES
    return met, total


def documentation_completeness(now: datetime, starts: list[datetime],
                               checks: list[tuple[int, datetime, str, list[dict[str, Any]]]]) -> Measure:
    """Share of the documentation requirements (model card, decision record, runbook) that are met
    or waived in production: now from the stored verdicts under the active policy, per month from
    the requirements each system's last production gate call of the month reported."""
    from governance.selectors.policy import active_policy

    m = Measure("documentation", "Documentation completeness",
                "Of the documents production requires of each system, how many are in place?",
                target=DOCUMENTATION_TARGET, target_text="at least 95%", unit="%",
                series_note="documents in place, in %, as each system's last production gate call of the month saw them")
    try:
        policy = active_policy()
    except PolicyError as exc:
        m.missing = f"The readiness policy does not load, so which documents are required is not known: {exc.message}"
        return m
    required = {r.id for r in policy.requirements if r.check in DOCUMENTATION_CHECKS}
    if not required:
        m.missing = "The active readiness policy requires no documentation check in production."
        return m
    stored = ReadinessVerdict.objects.filter(environment=PRODUCTION).values_list("requirements", flat=True)
    met, total = _documentation_share((r for reqs in stored for r in reqs), lambda r: r.get("id") in required)
    last: dict[tuple[datetime, int], list[dict[str, Any]]] = {}
    for system_id, checked_at, _verdict, reqs in checks:  # oldest first: the last one of a month wins
        last[(_month_of(checked_at), system_id)] = reqs
    per_month: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for (month, _), reqs in last.items():
        done, of = _documentation_share(reqs, lambda r: (r.get("trace") or {}).get("check") in DOCUMENTATION_CHECKS)
        per_month[month][0] += done
        per_month[month][1] += of
    m.series = _series(starts, {k: _pct(done, of) for k, (done, of) in per_month.items()})
    if not total:
        m.no_data = "No system has a production readiness verdict that asks for documents yet."
        return m
    m.value = _pct(met, total)
    m.display = _fmt_pct(m.value)
    m.detail = f"{met:,} of {total:,} required documents in place across the production verdicts"
    return m


def review_measures(now: datetime, starts: list[datetime]) -> tuple[Measure, Measure]:
    """SLA adherence: of the reviews whose outcome against their due date is settled (decided, or
    open past due), the share decided by the due date, counted in the month it was settled. And the
    median time from opening to decision, per month of decision."""
    sla = Measure("review-sla", "Review SLA adherence",
                  "Of the reviews that came due or were decided, how many were decided in time?",
                  unit="%", series_note="share of the month's settled reviews decided by their due date, in %")
    speed = Measure("review-time", "Median time to a review decision",
                    "How long does a review take from opening to decision?", higher_is_better=False,
                    unit=" days", series_note="median days from opening to decision of the month's decisions")
    rows = list(Review.objects.filter(Q(decided_at__gte=starts[0]) | Q(decided_at=None, due_at__gte=starts[0],
                                                                         due_at__lt=now))
                .values_list("opened_at", "due_at", "decided_at"))
    settled: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    took: dict[datetime, list[float]] = defaultdict(list)
    recent_ok = recent_all = 0
    recent_took: list[float] = []
    since = now - RECENT
    for opened, due, decided in rows:
        on_time = decided is not None and decided <= due
        moment: datetime = decided if decided is not None and on_time else due  # when it met or missed its due
        settled[_month_of(moment)][0] += on_time
        settled[_month_of(moment)][1] += 1
        if moment >= since:
            recent_ok += on_time
            recent_all += 1
        if decided is not None:
            took[_month_of(decided)].append(_days(decided - opened))
            if decided >= since:
                recent_took.append(_days(decided - opened))
    sla.series = _series(starts, {k: _pct(ok, n) for k, (ok, n) in settled.items()})
    if recent_all:
        sla.value = _pct(recent_ok, recent_all)
        sla.display = _fmt_pct(sla.value)
        sla.detail = f"{recent_ok:,} of {recent_all:,} reviews settled in the last 90 days were decided by their due date"
    else:
        sla.no_data = "No review was decided or came due in the last 90 days."
    speed.series = _series(starts, {k: statistics.median(v) for k, v in took.items()})
    if recent_took:
        speed.value = statistics.median(recent_took)
        speed.display = _fmt_days(speed.value)
        speed.detail = f"median of {len(recent_took):,} review decisions in the last 90 days"
    else:
        speed.no_data = "No review was decided in the last 90 days."
    return sla, speed


def intake_cycle_time(now: datetime, starts: list[datetime]) -> Measure:
    """Median days from a request's submission to its decision (approved or rejected), per month of
    decision."""
    m = Measure("intake", "Intake cycle time", "How long from a request's submission to its decision?",
                higher_is_better=False, unit=" days",
                series_note="median days from submission to decision of the month's decided requests")
    rows = UseCaseRequest.objects.filter(
        status__in=[RequestStatus.APPROVED, RequestStatus.REJECTED], decided_at__gte=starts[0],
        submitted_at__isnull=False).values_list("submitted_at", "decided_at")
    per_month: dict[datetime, list[float]] = defaultdict(list)
    recent: list[float] = []
    for submitted, decided in rows:
        if submitted is None or decided is None:
            continue  # the query asks for both; the column types allow neither
        days = max(_days(decided - submitted), 0.0)
        per_month[_month_of(decided)].append(days)
        if decided >= now - RECENT:
            recent.append(days)
    m.series = _series(starts, {k: statistics.median(v) for k, v in per_month.items()})
    if not recent:
        m.no_data = "No request was approved or rejected in the last 90 days."
        return m
    m.value = statistics.median(recent)
    m.display = _fmt_days(m.value)
    m.detail = f"median of {len(recent):,} requests decided in the last 90 days"
    return m


def blocked_systems(starts: list[datetime], checks: list[tuple[int, datetime, str, list[dict[str, Any]]]]) -> Measure:
    """Systems whose stored production verdict blocks, and for each unmet requirement how many
    systems it blocks; per month, the systems whose last production gate call of the month blocked."""
    m = Measure("blocked", "Systems blocked from production", "Which systems may not deploy to production, and why?",
                higher_is_better=False, series_note="systems whose last production gate call of the month was blocked")
    rows = list(ReadinessVerdict.objects.filter(environment=PRODUCTION).values_list("verdict", "requirements"))
    by_requirement: dict[str, int] = defaultdict(int)
    blocked = 0
    for verdict, reqs in rows:
        if verdict != Verdict.BLOCK:
            continue
        blocked += 1
        for title in {str(r.get("title") or r.get("id")) for r in reqs if r.get("status") not in PASSING_STATUSES}:
            by_requirement[title] += 1
    last: dict[tuple[datetime, int], str] = {}
    for system_id, checked_at, verdict, _reqs in checks:
        last[(_month_of(checked_at), system_id)] = verdict
    per_month: dict[datetime, float | None] = defaultdict(float)
    for (month, _), verdict in last.items():
        per_month[month] = (per_month[month] or 0) + (verdict == Verdict.BLOCK)
    m.series = _series(starts, dict(per_month))
    if not rows:
        m.no_data = "No system has a production readiness verdict yet."
        return m
    m.value = float(blocked)
    m.display = f"{blocked:,} of {len(rows):,}"
    m.detail = "systems with a production verdict are blocked"
    m.rows = [(title, n) for title, n in sorted(by_requirement.items(), key=lambda kv: (-kv[1], kv[0]))]
    return m


def cost_measures(now: datetime, starts: list[datetime]) -> tuple[Measure, Measure]:
    """Effective cost per month against the sum of the systems' monthly budgets, and cost per 1,000
    requests where the cost rows say how many requests they served. Costs are not converted: the
    currency with the most cost is shown and the others are named."""
    budget = Measure("cost", "Cost against budget", "What did AI cost last month against the budgets?",
                     higher_is_better=False, series_note="effective cost per month")
    per_k = Measure("cost-per-1000", "Cost per 1,000 requests",
                    "What does serving 1,000 requests cost, where the bill counts requests?",
                    higher_is_better=False, series_note="cost of the rows that count requests, per 1,000 requests")
    rows = list(CostRecord.objects.filter(period_start__gte=starts[0]).annotate(month=TruncMonth("period_start"))
                .values("month", "currency")
                .annotate(cost=Sum("effective_cost"), requests=Sum("request_count"),
                          counted=Sum("effective_cost", filter=Q(request_count__isnull=False))))
    budgets = dict(CostBudget.objects.values_list("currency").annotate(total=Sum("monthly_amount")))
    if not rows:
        budget.no_data = per_k.no_data = "No cost record in the last 12 months."
        return budget, per_k
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[r["currency"]] += r["cost"] or Decimal(0)
    currency = max(totals, key=lambda c: (totals[c], c))
    others = sorted(c for c in totals if c != currency)
    ours = [r for r in rows if r["currency"] == currency]
    monthly: dict[datetime, float | None] = {_month_of(r["month"]): float(r["cost"] or 0) for r in ours}
    limit = budgets.get(currency)
    budget.unit = f" {currency}"
    budget.series_note = f"effective cost per month, in {currency}"
    budget.series = _series(starts, monthly)
    budget.target = float(limit) if limit is not None else None
    budget.target_text = f"within {float(limit):,.0f} {currency} a month (sum of the systems' budgets)" if limit else ""
    last_month = _month_of(now).replace(day=1) - timedelta(days=1)
    shown = _month_of(last_month) if _month_of(last_month) in monthly else max(monthly)
    spent = monthly[shown] or 0.0
    budget.value = spent
    budget.display = f"{spent:,.0f} {currency}"
    budget.detail = (f"in {month_label(shown)}" + (f", {_pct(spent, float(limit)):.0f}% of the budgets"
                                                    if limit else "; no system in this currency has a budget"))
    if others:
        budget.detail += f". Costs in {', '.join(others)} are not converted and not counted here"
    per_k.unit = f" {currency}"
    per_k.series_note = f"cost of the rows that count requests, per 1,000 requests, in {currency}"
    counted = {_month_of(r["month"]): (float(r["counted"] or 0), int(r["requests"] or 0)) for r in ours}
    per_k.series = _series(starts, {k: 1000 * c / n for k, (c, n) in counted.items() if n})
    recent = [(c, n) for k, (c, n) in counted.items() if k >= _month_of(now - RECENT)]
    cost_sum, requests = sum(c for c, _ in recent), sum(n for _, n in recent)
    if not requests:
        per_k.no_data = "No cost record of the last 90 days says how many requests it served."
        return budget, per_k
    per_k.value = 1000 * cost_sum / requests
    per_k.display = f"{per_k.value:,.2f} {currency}"
    per_k.detail = f"{cost_sum:,.2f} {currency} over {requests:,} requests in the months since {month_label(_month_of(now - RECENT))}"
    return budget, per_k


def dashboard(now: datetime) -> list[Measure]:
    """Every measure, in the order the page shows them."""
    starts = months_back(now)
    checks = list(GateCheck.objects.filter(environment=PRODUCTION, checked_at__gte=starts[0]).order_by("checked_at", "pk")
                  .values_list("system_id", "checked_at", "verdict", "requirements"))
    sla, speed = review_measures(now, starts)
    cost, per_k = cost_measures(now, starts)
    return [
        gate_pass_share(now, starts),
        documentation_completeness(now, starts, checks),
        sla,
        speed,
        intake_cycle_time(now, starts),
        blocked_systems(starts, checks),
        cost,
        per_k,
    ]
