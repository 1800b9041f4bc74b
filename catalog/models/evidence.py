"""Evidence: evaluation results and cost records, where they come from (sources and
their sync runs), the metric requirements and budgets they are judged against, and the
staging rows a run fills before its all-or-nothing swap."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.choices import SourceKind, SyncStatus, SyncTrigger
from catalog.models.systems import AISystem
from catalog.permissions import visible_evidence_sources, visible_sync_runs


class EvalResult(models.Model):
    """One evaluation metric value for a system, as ingested from its source."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="eval_results")
    model_version = models.CharField(max_length=100, blank=True)
    metric = models.CharField(max_length=100)
    value = models.FloatField()
    dataset = models.CharField(max_length=200, blank=True)
    # What a model card's model-index says of the result besides the dataset's name: the dataset's
    # id (dataset.type, e.g. "ai2_arc"), how many examples the prompt showed (0-shot and 25-shot
    # ARC are different results), and where the figure was published. Database defaults, because
    # sync runs insert through SQL that does not name these columns.
    dataset_type = models.CharField(max_length=200, blank=True, default="", db_default="")
    num_few_shot = models.PositiveIntegerField(null=True, blank=True)
    source_url = models.CharField(max_length=1000, blank=True, default="", db_default="")
    source = models.CharField(max_length=200)
    source_run_id = models.CharField(max_length=200)
    # MLflow logs a metric at several steps; every other source has step 0.
    step = models.BigIntegerField(default=0)
    evidence_source = models.ForeignKey(
        "catalog.EvidenceSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_results"
    )
    observed_at = models.DateTimeField()
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-observed_at"]
        constraints = [
            # The natural key: the same source row never lands twice.
            models.UniqueConstraint(
                fields=["system", "source", "source_run_id", "metric", "dataset", "step"], name="evalresult_natural_key"
            )
        ]
        indexes = [models.Index(fields=["system", "metric", "-observed_at"])]

    def __str__(self) -> str:
        return f"{self.system} {self.metric}={self.value}"


class CostRecord(models.Model):
    """Cost of a system over one charge period, as billed by its source."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="cost_records")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    billed_cost = models.DecimalField(max_digits=18, decimal_places=6)
    effective_cost = models.DecimalField(max_digits=18, decimal_places=6)
    currency = models.CharField(max_length=3)
    service = models.CharField(max_length=200, blank=True)
    resource_id = models.CharField(max_length=300, blank=True)
    charge_category = models.CharField(max_length=30, blank=True)
    # Requests served in the period, where the source says (FOCUS ConsumedUnit "Requests"):
    # what "cost per 1,000 requests" divides by.
    request_count = models.BigIntegerField(null=True, blank=True)
    # The billing period the charge was delivered in. A FOCUS delivery is the truth for its billing
    # periods: a sync replaces the source's rows of those periods (blank for rows entered otherwise).
    billing_period_start = models.DateTimeField(null=True, blank=True)
    billing_period_end = models.DateTimeField(null=True, blank=True)
    evidence_source = models.ForeignKey(
        "catalog.EvidenceSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="cost_records"
    )
    source = models.CharField(max_length=200)
    # FOCUS: a digest of the row's cells and its occurrence in the delivery ("<digest>:2" is the
    # second identical row); other sources: their own charge key.
    source_row_id = models.CharField(max_length=200)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start"]
        indexes = [models.Index(fields=["system", "period_start"]),
                   models.Index(fields=["source", "billing_period_start"], name="costrecord_source_period")]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_row_id"], name="costrecord_natural_key"),
            models.CheckConstraint(condition=Q(period_end__gt=models.F("period_start")), name="costrecord_period_order"),
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.effective_cost} {self.currency}"


class EvidenceSourceQuerySet(models.QuerySet["EvidenceSource"]):
    def visible_to(self, user: User | AnonymousUser) -> EvidenceSourceQuerySet:
        return visible_evidence_sources(user, self)


class EvidenceSource(models.Model):
    """A configured connector that pulls evaluation or cost evidence for one system."""

    system = models.ForeignKey("catalog.AISystem", on_delete=models.PROTECT, related_name="evidence_sources")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    # An http(s) URL (MLflow base URL, or a results/cost file served over HTTP) or a file path that
    # must lie inside one of settings.EVIDENCE_ALLOWED_DIRS.
    location = models.CharField(max_length=1000)
    # MLflow: experiment name (or numeric id), a runs/search filter, the metrics that matter.
    experiment = models.CharField(max_length=250, blank=True)
    run_filter = models.CharField(max_length=500, blank=True)
    metrics = models.JSONField(default=list, blank=True)
    # Where a result says which model version and dataset it was produced from; the fallbacks apply
    # when the result does not say.
    model_version_key = models.CharField(max_length=100, blank=True, default="model_version")
    dataset_key = models.CharField(max_length=100, blank=True, default="dataset")
    default_model_version = models.CharField(max_length=100, blank=True)
    default_dataset = models.CharField(max_length=200, blank=True)
    # FOCUS: only rows whose Tags object carries {tag_key: system slug}; blank = every row.
    tag_key = models.CharField(max_length=100, blank=True)
    # FOCUS: the currency of files that have no BillingCurrency column; blank = such files fail.
    default_currency = models.CharField(max_length=3, blank=True)
    # Credentials: a Fernet token (never shown back) or the name of an environment variable.
    auth_kind = models.CharField(
        max_length=10, choices=[("none", "None"), ("bearer", "Bearer token"), ("basic", "HTTP Basic")], default="none"
    )
    username = models.CharField(max_length=150, blank=True)
    secret_encrypted = models.TextField(blank=True)
    secret_env = models.CharField(max_length=100, blank=True)
    # Schedule: editable here, dispatched by one beat task (catalog.dispatch_due_sources).
    enabled = models.BooleanField(default=True)
    interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EvidenceSourceQuerySet.as_manager()

    class Meta:
        ordering = ["system", "name"]
        constraints = [models.UniqueConstraint(fields=["system", "name"], name="evidencesource_unique_name")]
        indexes = [models.Index(fields=["enabled", "next_sync_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def get_absolute_url(self) -> str:
        return reverse("evidence-source-detail", kwargs={"pk": self.pk})

    @property
    def key(self) -> str:
        """The ``source`` part of the natural key of everything this source ingests."""
        return f"{self.kind}#{self.pk}"


class SyncRunQuerySet(models.QuerySet["SyncRun"]):
    def visible_to(self, user: User | AnonymousUser) -> SyncRunQuerySet:
        return visible_sync_runs(user, self)


ACTIVE_SYNC = (SyncStatus.QUEUED, SyncStatus.RUNNING)


class SyncRun(models.Model):
    """One sync of one source: the tracked row the UI reads (status, progress, counts, error)."""

    source = models.ForeignKey(EvidenceSource, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=SyncTrigger.choices, default=SyncTrigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A claim that lapses: while RUNNING, the worker's heartbeat renews it (JOB_LEASE_SECONDS); a
    # worker killed mid-run stops renewing, and once the lease has passed the run is marked failed
    # (its staged rows were never swapped in) and a retry is queued. While QUEUED: when the message
    # is considered lost and sent again.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    rows_read = models.BigIntegerField(default=0)
    rows_added = models.BigIntegerField(default=0)
    rows_duplicate = models.BigIntegerField(default=0)
    # Rows of earlier deliveries this one replaced (restated or withdrawn charges of its billing periods).
    rows_removed = models.BigIntegerField(default=0)
    rows_skipped = models.BigIntegerField(default=0)
    # Read and fine, but not evidence for this system (another system's FOCUS rows, unfinished runs).
    rows_ignored = models.BigIntegerField(default=0)
    # The first rejected rows: [{"row": n, "reason": "..."}] (capped; rows_skipped has the count).
    row_errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One active run per source: "sync now" twice, or beat and a click together, share one run.
            models.UniqueConstraint(
                fields=["source"], condition=Q(status__in=["queued", "running"]), name="syncrun_one_active_per_source"
            )
        ]
        indexes = [models.Index(fields=["source", "-created_at"]), models.Index(fields=["status", "lease_until"])]

    def __str__(self) -> str:
        return f"sync #{self.pk} of {self.source} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("sync-run-detail", kwargs={"pk": self.pk})

    @property
    def finished(self) -> bool:
        return self.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED)

    @property
    def percent(self) -> int | None:
        if self.status == SyncStatus.SUCCEEDED:
            return 100
        if not self.progress_total:
            return None
        return max(0, min(99, int(100 * self.progress_done / self.progress_total)))


class MetricRequirement(models.Model):
    """What a system requires of one metric: threshold, dataset, maximum age and allowed regression."""

    system = models.ForeignKey("catalog.AISystem", on_delete=models.CASCADE, related_name="metric_requirements")
    metric = models.CharField(max_length=100)
    # Blank: a result on any dataset counts.
    dataset = models.CharField(max_length=200, blank=True)
    threshold = models.FloatField()
    higher_is_better = models.BooleanField(default=True)
    # Blank: the policy's max_age_days applies; otherwise the stricter of the two.
    max_age_days = models.PositiveIntegerField(null=True, blank=True)
    baseline_value = models.FloatField(null=True, blank=True)
    # How far below (or above, when lower is better) the baseline a result may be.
    max_regression = models.FloatField(null=True, blank=True)
    require_version_match = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["system", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["system", "metric", "dataset"], name="metricrequirement_unique"),
            models.CheckConstraint(condition=Q(max_regression__gte=0) | Q(max_regression=None),
                                   name="metricrequirement_regression_non_negative"),
        ]

    def __str__(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        return f"{self.metric} {op} {self.threshold:g}" + (f" on {self.dataset}" if self.dataset else "")


class CostBudget(models.Model):
    """A system's cost budget per calendar month (UTC), in one currency."""

    system = models.OneToOneField("catalog.AISystem", on_delete=models.CASCADE, related_name="cost_budget")
    monthly_amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(monthly_amount__gte=0), name="costbudget_non_negative")]

    def __str__(self) -> str:
        return f"{self.system} {self.monthly_amount} {self.currency}/month"


# Staging: a run writes here in committed batches (so progress is visible and memory stays flat),
# then one short transaction swaps the run's rows into EvalResult/CostRecord with
# INSERT … SELECT … ON CONFLICT DO NOTHING and deletes them. A run that dies before the swap
# leaves no evidence at all; its staged rows are removed when the run is reaped or retried.
class StagedEval(models.Model):
    """An evaluation result read by a run that has not been swapped in yet."""

    # No database constraints on staging: rows are transient and written in bulk (PostgreSQL would
    # run two foreign-key triggers per row); the swap inserts through the real, constrained table.
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    system = models.ForeignKey("catalog.AISystem", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    model_version = models.CharField(max_length=100, blank=True)
    metric = models.CharField(max_length=100)
    value = models.FloatField()
    dataset = models.CharField(max_length=200, blank=True)
    step = models.BigIntegerField(default=0)
    source = models.CharField(max_length=200)
    source_run_id = models.CharField(max_length=200)
    observed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"staged {self.metric}={self.value} (run {self.run_id})"


class StagedCost(models.Model):
    """A cost row read by a run that has not been swapped in yet."""

    # Indexed with source_row_id below (the run alone is that index's prefix).
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    system = models.ForeignKey("catalog.AISystem", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    billed_cost = models.DecimalField(max_digits=18, decimal_places=6)
    effective_cost = models.DecimalField(max_digits=18, decimal_places=6)
    currency = models.CharField(max_length=3)
    service = models.CharField(max_length=200, blank=True)
    resource_id = models.CharField(max_length=300, blank=True)
    charge_category = models.CharField(max_length=30, blank=True)
    request_count = models.BigIntegerField(null=True, blank=True)
    billing_period_start = models.DateTimeField(null=True, blank=True)
    billing_period_end = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=200)
    source_row_id = models.CharField(max_length=200)

    class Meta:
        # What a FOCUS swap looks up by: a delivery's twin rows (grouped by id), each earlier row
        # of its billing periods (is it still delivered?) and its inserts, in the ids' order.
        indexes = [models.Index(fields=["run", "source_row_id"], name="stagedcost_run_row")]

    def __str__(self) -> str:
        return f"staged cost {self.effective_cost} {self.currency} (run {self.run_id})"
