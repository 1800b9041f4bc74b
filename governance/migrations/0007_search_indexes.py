"""GIN expression indexes for full-text search (PostgreSQL only; SQLite searches without them).

The expressions are governance.search.document_sql, so the planner uses these indexes for the
queries search() builds. Frozen here as SQL text: a later change to the searched columns gets a new
migration that drops and recreates them."""

from django.db import migrations

CREATE = [
    'CREATE INDEX IF NOT EXISTS "catalog_aisystem_search" ON "catalog_aisystem" USING GIN ((to_tsvector(\'english\'::regconfig, coalesce("name", \'\') || \' \' || coalesce("slug", \'\') || \' \' || coalesce("purpose", \'\') || \' \' || coalesce("vendor", \'\') || \' \' || coalesce("model_name", \'\'))))',
    'CREATE INDEX IF NOT EXISTS "catalog_modelcard_search" ON "catalog_modelcard" USING GIN ((to_tsvector(\'english\'::regconfig, coalesce("model_details", \'\') || \' \' || coalesce("intended_use", \'\') || \' \' || coalesce("out_of_scope_use", \'\') || \' \' || coalesce("training_data", \'\') || \' \' || coalesce("evaluation_data", \'\') || \' \' || coalesce("metrics", \'\') || \' \' || coalesce("limitations", \'\') || \' \' || coalesce("ethical_considerations", \'\') || \' \' || coalesce("caveats", \'\') || \' \' || coalesce("body_markdown", \'\'))))',
    'CREATE INDEX IF NOT EXISTS "governance_decisionrecord_search" ON "governance_decisionrecord" USING GIN ((to_tsvector(\'english\'::regconfig, coalesce("title", \'\') || \' \' || coalesce("context", \'\') || \' \' || coalesce("options", \'\') || \' \' || coalesce("decision", \'\') || \' \' || coalesce("consequences", \'\'))))',
    'CREATE INDEX IF NOT EXISTS "intake_usecaserequest_search" ON "intake_usecaserequest" USING GIN ((to_tsvector(\'english\'::regconfig, coalesce("title", \'\') || \' \' || coalesce("problem", \'\') || \' \' || coalesce("business_outcome", \'\') || \' \' || coalesce("why_ai", \'\') || \' \' || coalesce("vendor_model", \'\'))))',
]
DROP = [
    'DROP INDEX IF EXISTS "catalog_aisystem_search"',
    'DROP INDEX IF EXISTS "catalog_modelcard_search"',
    'DROP INDEX IF EXISTS "governance_decisionrecord_search"',
    'DROP INDEX IF EXISTS "intake_usecaserequest_search"',
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0006_document_exports"),
        ("catalog", "0006_datasets_and_vendors"),
        ("intake", "0003_usecaserequest_similar"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
