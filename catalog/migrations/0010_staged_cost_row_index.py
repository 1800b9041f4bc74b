"""Staged cost rows are indexed by (run, row id), the keys a FOCUS swap looks them up by, so
replacing a billing period costs one index probe per row instead of a scan per row; the run's own
index becomes that index's prefix."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0009_eval_result_provenance'),
    ]

    operations = [
        migrations.AlterField(
            model_name='stagedcost',
            name='run',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.syncrun'),
        ),
        migrations.AddIndex(
            model_name='stagedcost',
            index=models.Index(fields=['run', 'source_row_id'], name='stagedcost_run_row'),
        ),
    ]
