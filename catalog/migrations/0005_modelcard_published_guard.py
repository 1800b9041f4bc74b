"""Triggers (PostgreSQL and SQLite) that refuse UPDATE and DELETE of a published model card."""

from django.db import migrations

from catalog.db_guards import GUARDS, install, uninstall


def forwards(apps, schema_editor):
    install(schema_editor, GUARDS)


def backwards(apps, schema_editor):
    uninstall(schema_editor, GUARDS)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_modelcard_formats_and_targets")]

    operations = [migrations.RunPython(forwards, backwards)]
