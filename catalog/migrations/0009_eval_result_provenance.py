"""Evaluation results keep what a model card's model-index says of them: the dataset's id, the
few-shot count and the source URL."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0008_focus_billing_periods'),
    ]

    operations = [
        migrations.AddField(
            model_name='evalresult',
            name='dataset_type',
            field=models.CharField(blank=True, db_default='', default='', max_length=200),
        ),
        migrations.AddField(
            model_name='evalresult',
            name='num_few_shot',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='evalresult',
            name='source_url',
            field=models.CharField(blank=True, db_default='', default='', max_length=1000),
        ),
    ]
