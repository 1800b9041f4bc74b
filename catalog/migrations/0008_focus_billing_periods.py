"""A FOCUS delivery is the truth for its billing periods: cost records remember theirs, runs count
what a delivery replaced, and a source may name the currency of files without BillingCurrency."""

from datetime import UTC

from django.db import migrations, models


def backfill_billing_periods(apps, schema_editor):
    """FOCUS rows ingested before billing periods were kept: the calendar month (UTC) of their charge,
    the period a file without BillingPeriod columns is given now. The next delivery of a month
    replaces them whole (their ids predate the per-row digests)."""
    CostRecord = apps.get_model("catalog", "CostRecord")
    rows = CostRecord.objects.filter(source__startswith="focus#", billing_period_start__isnull=True)
    for month in rows.datetimes("period_start", "month", tzinfo=UTC):
        following = month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)
        rows.filter(period_start__gte=month, period_start__lt=following).update(
            billing_period_start=month, billing_period_end=following)


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0007_sync_retry_trigger'),
    ]

    operations = [
        migrations.AddField(
            model_name='costrecord',
            name='billing_period_end',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='costrecord',
            name='billing_period_start',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='evidencesource',
            name='default_currency',
            field=models.CharField(blank=True, max_length=3),
        ),
        migrations.AddField(
            model_name='stagedcost',
            name='billing_period_end',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='stagedcost',
            name='billing_period_start',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='rows_removed',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name='costrecord',
            index=models.Index(fields=['source', 'billing_period_start'], name='costrecord_source_period'),
        ),
        migrations.RunPython(backfill_billing_periods, migrations.RunPython.noop),
    ]
