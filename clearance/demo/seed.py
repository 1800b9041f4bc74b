"""Walk portfolio.yaml and build the demo through the services.

The file says what the portfolio holds; this module only reads it and makes each change with the
service a user's click would call, so the audit chain, notifications and outbox messages are the
real ones. Only the user accounts and their group memberships are written directly (they are not
governed records), and one demo-only backdating of reviews (see ``_review``).

The whole seed is one transaction, so a failure leaves nothing half-seeded, and it is idempotent:
once the governance lead persona exists it changes nothing. A key the walker does not know, a
persona that does not exist, or a request or system that does not end in the ``state`` or
``stage`` the file names stops the seed with an error that names the item.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from catalog.choices import LifecycleStage
from catalog.models import AISystem, ModelCard
from catalog.services import cards, evidence, registers, systems
from clearance.roles import Role
from governance.choices import DecisionStatus
from governance.models import DecisionRecord, Review
from governance.policy.loader import load_readiness_policy
from governance.services import approvals, decisions, gate, readiness, reminders, reviews, waivers
from intake import services as intake
from intake.choices import RequestStatus
from intake.models import UseCaseRequest
from risks.services import incidents

HERE = Path(__file__).resolve().parent
PORTFOLIO = HERE / "portfolio.yaml"
FILES = HERE / "files"
DEMO_PASSWORD = "clearance-demo"

# The main line of the lifecycle; every consecutive pair is an allowed move.
LIFECYCLE_PATH = (
    LifecycleStage.PROPOSED,
    LifecycleStage.IN_DEVELOPMENT,
    LifecycleStage.PILOT,
    LifecycleStage.PRODUCTION,
    LifecycleStage.RETIRED,
)
# Request states the seed reaches by itself; the others are where the reviews lead.
BEFORE_REVIEW = (RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.WITHDRAWN)
# When a system is created from its request: before the reviews open, once they are open but
# none is decided, or (the default) after the reviews.
SYSTEM_CREATED = ("in_triage", "in_review", "after_reviews")


class DemoDataError(Exception):
    """The portfolio file asks for something the seed cannot do."""


@dataclass
class DemoSeed:
    created: bool
    logins: list[tuple[str, str, str]]


class Spec:
    """One mapping of the portfolio file, read key by key: a key nobody read is an error, so a
    misspelt key fails the seed instead of being ignored."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise DemoDataError(f"{where}: expected a mapping, found {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.data.get(key, default)

    def need(self, key: str) -> Any:
        if key not in self.data:
            raise DemoDataError(f"{self.where}: '{key}' is missing")
        return self.get(key)

    def sub(self, key: str) -> Spec | None:
        value = self.get(key)
        return None if value is None else Spec(value, f"{self.where}.{key}")

    def items(self, key: str) -> Iterator[Spec]:
        """The mappings of a list under ``key`` (none when it is absent)."""
        values = self.get(key) or []
        if not isinstance(values, list):
            raise DemoDataError(f"{self.where}.{key}: expected a list")
        for index, value in enumerate(values):
            yield Spec(value, f"{self.where}.{key}[{index}]")

    def rest(self) -> dict[str, Any]:
        """Every key not read yet: keyword arguments the service itself validates by name."""
        rest = {key: value for key, value in self.data.items() if key not in self.read}
        self.read.update(rest)
        return rest

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise DemoDataError(f"{self.where}: unknown key(s) {', '.join(unknown)}")


def load_portfolio(path: Path = PORTFOLIO) -> Spec:
    with path.open(encoding="utf-8") as handle:
        # libyaml's safe loader when PyYAML has it: the pure-Python one takes several times longer
        # on this file, on every `manage.py demo`.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return Spec(yaml.load(handle, Loader=loader), path.name)  # noqa: S506 - a safe loader either way


def demo_logins(portfolio: Spec | None = None) -> list[tuple[str, str, str]]:
    portfolio = portfolio or load_portfolio()
    return [(p.need("username"), DEMO_PASSWORD, p.need("description")) for p in portfolio.items("personas")]


def seed_demo(*, stdout: IO[str] | None = None, path: Path = PORTFOLIO) -> DemoSeed:
    """Seed the demo once; a second call changes nothing and returns the same logins."""

    def say(message: str) -> None:
        if stdout is not None:
            stdout.write(message + "\n")

    portfolio = load_portfolio(path)
    acting = portfolio.sub("acting")
    if acting is None:
        raise DemoDataError(f"{portfolio.where}: 'acting' is missing")
    sentinel = acting.need("governance_lead")
    logins = demo_logins(portfolio)
    if get_user_model().objects.filter(username=sentinel).exists():
        say(f"Demo data already present (user '{sentinel}' exists); nothing changed.")
        return DemoSeed(created=False, logins=logins)
    with transaction.atomic():
        users = _create_users(portfolio)
        say(f"Created {len(users)} demo users.")
        _Seeder(portfolio, acting, users, say).run()
    return DemoSeed(created=True, logins=logins)


def _create_users(portfolio: Spec) -> dict[str, User]:
    users = {}
    for persona in portfolio.items("personas"):
        username = persona.need("username")
        first_name, last_name = persona.need("name")
        fields = {"email": f"{username}@example.com", "first_name": first_name, "last_name": last_name}
        persona.need("description")
        manager = get_user_model().objects
        if persona.get("superuser", False):
            user = manager.create_superuser(username, password=DEMO_PASSWORD, **fields)
        else:
            user = manager.create_user(username, password=DEMO_PASSWORD, **fields)
        for role in persona.need("roles"):
            try:
                group = Group.objects.get(name=Role(role).value)
            except ValueError as exc:
                raise DemoDataError(f"{persona.where}: unknown role '{role}'") from exc
            except Group.DoesNotExist as exc:
                raise RuntimeError(
                    f"the role group '{role}' is missing: run `manage.py migrate` (clearance 0002 creates it)"
                ) from exc
            user.groups.add(group)
        persona.done()
        users[username] = user
    return users


def _item_name(data: dict[str, Any]) -> str:
    """" (support-copilot)" or " (Meeting notes summariser)": where an error points in the file."""
    system, request = data.get("system") or {}, data.get("request") or {}
    name = system.get("slug") or (request.get("answers") or {}).get("title") or ""
    return f" ({name})" if name else ""


def _days_from_now(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


def _saw(spec: Spec, day: int) -> int:
    """A deterministic saw-tooth series, so a chart of it is neither flat nor random."""
    value = int(spec.need("base")) + (day * int(spec.need("step"))) % int(spec.need("modulo"))
    spec.done()
    return value


class _Seeder:
    def __init__(self, portfolio: Spec, acting: Spec, users: dict[str, User], say: Callable[[str], None]) -> None:
        self.portfolio = portfolio
        self.users = users
        self.say = say
        self.lead = self.user(acting.need("governance_lead"), acting.where)
        self.keeper = self.user(acting.need("system_keeper"), acting.where)
        acting.done()
        self.evidence_dir = Path(settings.EVIDENCE_ALLOWED_DIRS[0])

    def user(self, username: str, where: str) -> User:
        try:
            return self.users[username]
        except KeyError:
            raise DemoDataError(f"{where}: no persona named '{username}'") from None

    @contextmanager
    def item(self, where: str) -> Iterator[None]:
        """Name the item of the file in any error a service raises while it is built."""
        try:
            yield
        except DemoDataError:
            raise
        except Exception as exc:
            raise DemoDataError(f"{where}: {exc}") from exc

    # --- The walk --------------------------------------------------------------------------------

    def run(self) -> None:
        portfolio = self.portfolio
        portfolio.get("anchors")  # holds YAML anchors only; the items merge them in
        self.evaluation_source = portfolio.need("evaluation_source")
        self._evidence_files(portfolio.sub("evidence_files"))
        for item in portfolio.items("portfolio"):
            item.where += _item_name(item.data)
            with self.item(item.where):
                self._use_case(item)
        for vendor in portfolio.items("vendors"):
            with self.item(vendor.where):
                registers.vendor_save(**self._register_fields(vendor))
        for dataset in portfolio.items("datasets"):
            with self.item(dataset.where):
                registers.dataset_save(**self._register_fields(dataset))
        self.say("Registers: vendors and datasets linked to their systems.")
        # Nothing here runs the services' follow-up tasks; pin every approval to what it ended
        # with now, so the first worker run finds nothing to lapse.
        lapsed = approvals.approvals_recheck(reason="demo data seeded")
        if lapsed:
            raise DemoDataError(f"the portfolio materially changes approvals after they were given: reviews {lapsed}")
        sent = reminders.reminders_send()
        self.say(f"Reminders: {sent['overdue']} overdue and {sent['expiring']} expiring.")
        self._gate_calls(portfolio.sub("gate_calls"))
        portfolio.done()
        self.say(f"Seeded {UseCaseRequest.objects.count()} requests and {AISystem.objects.count()} systems.")
        for system in AISystem.objects.order_by("slug"):
            readiness.readiness_recompute(system_id=system.pk, reason="demo data seeded")
        self.say("Computed readiness for every system.")

    def _use_case(self, item: Spec) -> None:
        story = item.need("story")
        request_spec, system_spec = item.sub("request"), item.sub("system")
        item.done()
        request, system = None, None
        if request_spec is not None:
            request, system = self._request(request_spec, system_spec)
        elif system_spec is not None:
            system = self._catalog_system(system_spec)
        else:
            raise DemoDataError(f"{item.where}: give a request, a system or both")
        if system is not None and system_spec is not None:
            self._keep(system, system_spec)
        if request is not None and request_spec is not None:
            # Checked last: a change to the system after approval moves the request back to review.
            request.refresh_from_db()
            state = request_spec.data["state"]
            if request.status != state:
                raise DemoDataError(f"{request_spec.where}: the request ended {request.status}, not {state}")
        label = system.slug if system is not None else request.title if request is not None else ""
        self.say(f"{label}: {story}")

    # --- Requests --------------------------------------------------------------------------------

    def _request(self, spec: Spec, system_spec: Spec | None) -> tuple[UseCaseRequest, AISystem | None]:
        requester = self.user(spec.need("by"), spec.where)
        try:
            state = RequestStatus(spec.need("state"))
        except ValueError:
            raise DemoDataError(f"{spec.where}: unknown state '{spec.get('state')}'") from None
        steps = list(spec.items("steps"))
        if steps:
            request = self._guided_form(requester, steps)
        else:
            request = intake.request_create_draft(requester=requester, **spec.need("answers"))
        if state != RequestStatus.DRAFT:
            request = intake.request_submit(actor=requester, request=request)
        if state == RequestStatus.WITHDRAWN:
            request = intake.request_withdraw(actor=requester, request=request)
        if state not in BEFORE_REVIEW:
            request = self._triage(request, spec)
        created = None
        if system_spec is not None:
            created = system_spec.get("created", "after_reviews")
            if created not in SYSTEM_CREATED:
                raise DemoDataError(f"{system_spec.where}.created: one of {', '.join(SYSTEM_CREATED)}")
        system = None
        if created == "in_triage" and system_spec is not None:
            system = self._system_from(request, system_spec)
        review_specs = spec.sub("reviews")
        if review_specs is not None:
            opened = {r.kind: r for r in reviews.reviews_open(actor=self.lead, request=request,
                                                      kinds=list(review_specs.data))}
            if created == "in_review" and system_spec is not None:
                system = self._system_from(request, system_spec)
            for kind in list(review_specs.data):
                self._review(opened[kind], Spec(review_specs.get(kind) or {}, f"{review_specs.where}.{kind}"))
            review_specs.done()
        if system_spec is not None and system is None:
            system = self._system_from(request, system_spec)
        for entry in spec.items("timeline"):
            self._timeline(request, entry)
        spec.done()
        return request, system

    def _guided_form(self, requester: User, steps: list[Spec]) -> UseCaseRequest:
        """A draft saved step by step, as the guided form does; the first step creates it."""
        request: UseCaseRequest | None = None
        for step in steps:
            request = intake.request_save_step(actor=requester, request=request, step=step.need("step"),
                                        completed=step.get("completed", True), answers=step.need("answers"))
            step.done()
        if request is None:
            raise DemoDataError("a guided-form draft needs at least one step")
        return request

    def _triage(self, request: UseCaseRequest, spec: Spec) -> UseCaseRequest:
        request = intake.request_start_triage(actor=self.lead, request=request)
        tier = spec.get("tier")
        if tier is not None:
            # The service refuses an override without a justification, so a tiering rule that
            # does not say what this item expects fails the seed loudly.
            request = intake.request_set_tier(actor=self.lead, request=request,
                                       tier=request.suggested_tier if tier == "suggested" else tier,
                                       justification=spec.get("justification", ""))
        owners = spec.get("owners")
        if owners is not None:
            business, technical, risk = self._owners(owners, f"{spec.where}.owners")
            request = intake.request_assign_owners(actor=self.lead, request=request, business=business,
                                            technical=technical, risk=risk)
        return request

    def _owners(self, owners: dict[str, str], where: str) -> tuple[User | None, ...]:
        unknown = set(owners) - {"business", "technical", "risk"}
        if unknown:
            raise DemoDataError(f"{where}: unknown owner role(s) {', '.join(sorted(unknown))}")
        return tuple(self.user(owners[role], where) if owners.get(role) else None
                     for role in ("business", "technical", "risk"))

    def _review(self, review: Review, spec: Spec) -> None:
        assignee = spec.get("assigned_to")
        if assignee is not None:
            review = reviews.review_reassign(actor=self.lead, review=review, assignee=self.user(assignee, spec.where))
        claimed_by = spec.get("claimed_by")
        if claimed_by is not None:
            review = reviews.review_claim(actor=self.user(claimed_by, spec.where), review=review)
        decision = spec.get("decision")
        if decision is not None:
            reviewer = self.user(spec.get("by", review.kind), spec.where)
            expires_in_days = spec.get("expires_in_days")
            review = reviews.review_claim(actor=reviewer, review=review)
            review = reviews.review_decide(
                actor=reviewer, review=review, decision=decision, rationale=spec.need("rationale"),
                conditions=spec.get("conditions", ""),
                expires_at=_days_from_now(expires_in_days) if expires_in_days is not None else None,
            )
        days_ago = spec.get("opened_days_ago")
        if days_ago is not None:
            # Demo only: no service backdates a review, but the queue should show an aged,
            # overdue item. Same SLA, moved into the past.
            opened = review.opened_at - timedelta(days=days_ago)
            Review.objects.filter(pk=review.pk).update(opened_at=opened,
                                                       due_at=opened + (review.due_at - review.opened_at))
        spec.done()

    def _timeline(self, request: UseCaseRequest, spec: Spec) -> None:
        actor = self.user(spec.need("by"), spec.where)
        attachment = spec.get("attach")
        if attachment is not None:
            upload = SimpleUploadedFile(attachment, (FILES / attachment).read_bytes())
            intake.request_attach(actor=actor, request=request, upload=upload)
        else:
            intake.request_comment(actor=actor, request=request, kind=spec.get("kind", "comment"), body=spec.need("body"))
        spec.done()

    # --- Systems ---------------------------------------------------------------------------------

    def _system_from(self, request: UseCaseRequest, spec: Spec) -> AISystem:
        system = intake.request_create_system(actor=self.lead, request=request, slug=spec.need("slug"),
                                       name=spec.get("name", ""))
        return self._update(system, spec)

    def _catalog_system(self, spec: Spec) -> AISystem:
        business, technical, risk = self._owners(spec.get("owners") or {}, f"{spec.where}.owners")
        system = systems.system_create(
            actor=self.lead, slug=spec.need("slug"), name=spec.need("name"), purpose=spec.need("purpose"),
            risk_tier=spec.need("tier"), business_owner=business, technical_owner=technical, risk_owner=risk,
            vendor=spec.get("vendor", ""), model_name=spec.get("model_name", ""),
            data_categories=spec.get("data_categories", []),
        )
        return self._update(system, spec)

    def _update(self, system: AISystem, spec: Spec) -> AISystem:
        fields = spec.get("update")
        if not fields:
            return system
        # Link templates name the system: "https://git.example.com/ai/{slug}".
        fields = {name: value.format(slug=system.slug) if isinstance(value, str) else value
                  for name, value in fields.items()}
        return systems.system_update(actor=self.keeper, system=system, **fields)

    def _keep(self, system: AISystem, spec: Spec) -> None:
        """What the system's keepers do once it exists, in a fixed order: a change after approval,
        the lifecycle up to pilot, cards, evaluation, decisions, the rest of the lifecycle, the cards
        and decisions that came ``later``, budget, evidence sources, waivers."""
        changes = spec.get("changed_after_approval")
        if changes:
            system.refresh_from_db()
            reason = ", ".join(f"{name.replace('_', ' ')} {getattr(system, name)} → {value}"
                               for name, value in changes.items())
            system = systems.system_update(actor=self.keeper, system=system, **changes)
            approvals.approvals_recheck(system_id=system.pk, reason=reason)
        stage = LifecycleStage(spec.need("stage"))
        # As a careful team would, the system reaches production (or retirement) only once its card,
        # evaluation and decisions are on record: those are written at the pilot stage at the latest.
        system = self._move_to(system, min(stage, LifecycleStage.PILOT, key=LIFECYCLE_PATH.index), spec.where)
        for card in spec.items("cards"):
            self._card(system, card)
        evaluation = spec.sub("evaluation")
        if evaluation is not None:
            self._evaluate(system, evaluation)
        records: dict[str, DecisionRecord] = {}
        self._decisions(system, spec, records)
        system = self._move_to(system, stage, spec.where)
        later = spec.sub("later")
        if later is not None:
            for card in later.items("cards"):
                self._card(system, card)
            self._decisions(system, later, records)
            later.done()
        budget = spec.sub("budget")
        if budget is not None:
            evidence.budget_set(actor=self.keeper, system=system, monthly_amount=Decimal(str(budget.need("monthly"))),
                       currency=budget.get("currency", "USD"))
            budget.done()
        for source in spec.items("evidence_sources"):
            self._evidence_source(system, source)
        for waiver in spec.items("waivers"):
            self._waiver(system, waiver)
        for incident in spec.items("incidents"):
            self._incident(system, incident)
        spec.done()
        system.refresh_from_db()
        if system.lifecycle_stage != stage:
            raise DemoDataError(f"{spec.where}: {system.slug} ended {system.lifecycle_stage}, not {stage}")

    def _move_to(self, system: AISystem, stage: LifecycleStage, where: str) -> AISystem:
        start = LIFECYCLE_PATH.index(LifecycleStage(system.lifecycle_stage))
        end = LIFECYCLE_PATH.index(stage)
        if end < start:
            raise DemoDataError(f"{where}: {system.slug} cannot go back from {system.lifecycle_stage} to {stage}")
        for step in LIFECYCLE_PATH[start + 1 : end + 1]:
            system = systems.system_move_lifecycle(actor=self.keeper, system=system, to=step)
        return system

    def _card(self, system: AISystem, spec: Spec) -> None:
        publish = spec.get("publish", True)
        review_due_in_days = spec.get("review_due_in_days")
        card: ModelCard | None = None
        imported = spec.get("import")
        if imported is not None:
            card = cards.model_card_import(actor=self.keeper, system=system, fmt=spec.need("format"),
                                     content=(FILES / imported).read_bytes(), filename=spec.get("filename", imported))
        sections = spec.rest()
        if sections or review_due_in_days is not None:
            review_due = (timezone.localdate() + timedelta(days=review_due_in_days)
                          if review_due_in_days is not None else None)
            card = cards.model_card_draft(actor=self.keeper, system=system, review_due=review_due, **sections)
        if card is None:
            raise DemoDataError(f"{spec.where}: a card needs sections or a file to import")
        if publish:
            cards.model_card_publish(actor=self.keeper, card=card)

    def _evaluate(self, system: AISystem, spec: Spec) -> None:
        """Set the gating metric and record runs given as [days ago, value], oldest first."""
        metric = spec.need("metric")
        system = systems.system_set_evaluation_target(actor=self.keeper, system=system, metric=metric,
                                              threshold=spec.need("threshold"),
                                              higher_is_better=spec.get("higher_is_better", True))
        dataset = spec.need("dataset")
        for index, (days_ago, value) in enumerate(spec.need("runs"), start=1):
            evidence.eval_result_record(system=system, metric=metric, value=value, source=self.evaluation_source,
                               source_run_id=f"{system.slug}-run-{index:03d}", observed_at=_days_from_now(-days_ago),
                               dataset=dataset, model_version=system.model_version)
        spec.done()

    def _decisions(self, system: AISystem, spec: Spec, by_title: dict[str, DecisionRecord]) -> None:
        """Propose, then accept or reject, each record; ``by_title`` holds the system's records so
        far, which a later one may supersede."""
        for entry in spec.items("decisions"):
            supersedes = entry.get("supersedes")
            if supersedes is not None and supersedes not in by_title:
                raise DemoDataError(f"{entry.where}: supersedes '{supersedes}', which is not listed before it")
            proposer = self.user(entry.need("proposed_by"), entry.where)
            outcomes = {DecisionStatus.ACCEPTED: entry.get("accepted_by"), DecisionStatus.REJECTED: entry.get("rejected_by")}
            record = decisions.decision_record_propose(actor=proposer, system=system,
                                             supersedes=by_title[supersedes] if supersedes else None, **entry.rest())
            for outcome, decider in outcomes.items():
                if decider is not None:
                    record = decisions.decision_record_decide(actor=self.user(decider, entry.where), record=record, to=outcome)
            by_title[record.title] = record

    def _evidence_source(self, system: AISystem, spec: Spec) -> None:
        sync = spec.get("sync", False)
        file = spec.get("file")
        options = spec.rest()
        if file is not None:
            options["location"] = str(self.evidence_dir / file)
        source = evidence.source_create(actor=self.keeper, system=system, **options)
        if sync:
            run, _ = evidence.sync_request(actor=self.keeper, source=source)
            evidence.sync_run_execute(run_id=run.pk)

    def _waiver(self, system: AISystem, spec: Spec) -> None:
        system.refresh_from_db()
        waiver = waivers.waiver_request(actor=self.user(spec.need("requested_by"), spec.where), system=system,
                                requirement=spec.need("requirement"), justification=spec.need("justification"),
                                expires_at=_days_from_now(spec.need("expires_in_days")))
        waivers.waiver_decide(actor=self.user(spec.need("approved_by"), spec.where), waiver=waiver, approve=True,
                      note=spec.get("note", ""))
        spec.done()

    def _incident(self, system: AISystem, spec: Spec) -> None:
        """An incident reported on the system, then the reports to the authority and the moves it made."""
        system.refresh_from_db()
        aware = _days_from_now(-float(spec.need("aware_days_ago")))
        incident = incidents.incident_open(
            actor=self.user(spec.need("reported_by"), spec.where), systems=[system],
            data=incidents.IncidentInput(
                title=spec.need("title"), description=spec.need("description"), severity=spec.need("severity"),
                detected_at=aware - timedelta(hours=1), aware_at=aware, harm_categories=spec.get("harm", []),
                people_affected=spec.get("people_affected"), serious_facts=spec.get("serious", []),
                model_version=system.model_version))
        for report in spec.items("reports"):
            incidents.incident_report(actor=self.user(report.need("by"), report.where), incident=incident,
                                      complete=bool(report.need("complete")),
                                      sent_at=_days_from_now(-float(report.need("days_ago"))),
                                      reference=report.get("reference", ""))
            report.done()
        for move in spec.items("moves"):
            incident = incidents.incident_move(actor=self.user(move.need("by"), move.where), incident=incident,
                                               to=move.need("to"), note=move.get("note", ""))
            move.done()
        spec.done()

    # --- The rest of the portfolio ------------------------------------------------------------------

    def _register_fields(self, spec: Spec) -> dict[str, Any]:
        """Keyword arguments of vendor_save / dataset_save: personas become users, slugs systems."""
        actor = self.user(spec.need("by"), spec.where)
        slugs = spec.get("systems", [])
        linked = list(AISystem.objects.filter(slug__in=slugs))
        missing = set(slugs) - {s.slug for s in linked}
        if missing:
            raise DemoDataError(f"{spec.where}: no system {', '.join(sorted(missing))}")
        owner = spec.get("owner")
        review_due_in_days = spec.get("review_due_in_days")
        fields = spec.rest()
        if owner is not None:
            fields["owner"] = self.user(owner, spec.where)
        if review_due_in_days is not None:
            fields["review_due"] = timezone.localdate() + timedelta(days=review_due_in_days)
        return {"actor": actor, "systems": linked, **fields}

    def _evidence_files(self, spec: Spec | None) -> None:
        """Write the files evidence sources sync from, where the sources may read them."""
        if spec is None:
            return
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        for name in list(spec.data):
            file = Spec(spec.get(name), f"{spec.where}.{name}")
            copy = file.get("copy")
            focus = file.sub("focus")
            if copy is not None:
                shutil.copyfile(FILES / copy, self.evidence_dir / name)
            elif focus is not None:
                (self.evidence_dir / name).write_text(_focus_csv(focus))
            else:
                raise DemoDataError(f"{file.where}: say 'copy' or 'focus'")
            file.done()
        spec.done()

    def _gate_calls(self, spec: Spec | None) -> None:
        if spec is None:
            return
        policy = load_readiness_policy()
        user = self.user(spec.need("by"), spec.where)
        slugs, environments = spec.need("systems"), spec.need("environments")
        for slug in slugs:
            system = AISystem.objects.select_related("business_owner", "technical_owner", "risk_owner").get(slug=slug)
            for environment in environments:
                gate.gate_check(user=user, token=None, system=system, environment=environment, policy=policy,
                           version=str(spec.need("version")), commit=spec.need("commit"),
                           pipeline_url=spec.need("pipeline_url"))
        spec.done()
        self.say(f"Recorded {len(slugs) * len(environments)} gate calls.")


FOCUS_HEADER = ("BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
                "ServiceName,ResourceId,ConsumedQuantity,ConsumedUnit,Tags")


def _focus_csv(spec: Spec) -> str:
    """A FOCUS cost export: per day, one row per system, tagged so a source routes it to that system.
    A system billed per request gives the volume; one billed per day gives only the cost."""
    days, service, currency = int(spec.need("days")), spec.need("service"), spec.need("currency")
    tag_key = spec.need("tag_key")
    rows = []
    for slug in list(spec.need("systems")):
        system = Spec(spec.data["systems"][slug], f"{spec.where}.systems.{slug}")
        requests, cost = system.sub("requests"), system.sub("cost")
        per_request = Decimal(str(system.get("cost_per_request", "0")))
        rows.append((slug, system.need("resource"), requests, cost, per_request))
        system.done()
    spec.done()
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    lines = [FOCUS_HEADER]
    for day in range(days, 0, -1):
        start, end = (today - timedelta(days=day)).strftime(iso), (today - timedelta(days=day - 1)).strftime(iso)
        for slug, resource, requests, cost, per_request in rows:
            if requests is not None:
                quantity = _saw(requests, day)
                amount, unit = Decimal(quantity) * per_request, "Requests"
            elif cost is not None:
                quantity, amount, unit = 0, Decimal(_saw(cost, day)), "Pages"
            else:
                raise DemoDataError(f"{spec.where}.systems.{slug}: give 'requests' or 'cost'")
            lines.append(f'{amount:.2f},{amount:.2f},{currency},{start},{end},Usage,{service},{resource},{quantity},'
                         f'{unit},"{{""{tag_key}"": ""{slug}""}}"')
    return "\n".join(lines) + "\n"
