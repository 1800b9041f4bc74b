"""Triggers (PostgreSQL and SQLite) that refuse rewriting or deleting a decided decision record."""

from django.db import migrations

from catalog.db_guards import install, uninstall
from governance.db_guards import GUARDS


def forwards(apps, schema_editor):
    install(schema_editor, GUARDS)


def backwards(apps, schema_editor):
    uninstall(schema_editor, GUARDS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_decisionrecord_request_and_supersession")]

    operations = [migrations.RunPython(forwards, backwards)]
