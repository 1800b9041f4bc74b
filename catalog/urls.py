"""Catalog URLs: systems, model cards, evidence, datasets, vendors and ownership gaps.

Names are global and short ('system-settings'), like every URL of the project; the system page
itself aggregates governance, so its route lives in governance/urls.py."""

from django.urls import path

from catalog.views import cards, evidence, registers, systems

urlpatterns = [
    path("systems/", systems.system_list, name="system-list"),
    path("systems/<slug:slug>/settings/", systems.system_settings, name="system-settings"),
    path("systems/<slug:slug>/model-card/", cards.model_card_edit, name="model-card-edit"),
    path("systems/<slug:slug>/model-card/v<int:version>/", cards.model_card_detail, name="model-card-detail"),
    path("systems/<slug:slug>/model-card/v<int:version>/publish/", cards.model_card_publish,
         name="model-card-publish"),
    path("systems/<slug:slug>/model-card/import/", cards.model_card_import, name="model-card-import"),
    path("systems/<slug:slug>/model-card/compare/", cards.model_card_compare, name="model-card-compare"),
    path("systems/<slug:slug>/model-card/v<int:version>/export/<slug:fmt>/", cards.model_card_export,
         name="model-card-export"),
    # evidence pipeline: sources, sync runs, metric requirements
    path("systems/<slug:slug>/evidence/", evidence.system_evidence, name="system-evidence"),
    path("systems/<slug:slug>/evidence/sources/new/", evidence.source_create, name="evidence-source-create"),
    path("systems/<slug:slug>/evidence/requirements/", evidence.requirements, name="metric-requirements"),
    path("systems/<slug:slug>/evidence/requirements/<int:pk>/delete/", evidence.requirement_delete,
         name="metric-requirement-delete"),
    path("evidence/sources/<int:pk>/", evidence.source_detail, name="evidence-source-detail"),
    path("evidence/sources/<int:pk>/edit/", evidence.source_edit, name="evidence-source-edit"),
    path("evidence/sources/<int:pk>/sync/", evidence.source_sync, name="evidence-source-sync"),
    path("evidence/runs/<int:pk>/", evidence.run_detail, name="sync-run-detail"),
    path("evidence/runs/<int:pk>/progress/", evidence.run_progress, name="sync-run-progress"),
    # registers
    path("datasets/", registers.dataset_list, name="dataset-list"),
    path("datasets/new/", registers.dataset_create, name="dataset-create"),
    path("datasets/<int:pk>/", registers.dataset_detail, name="dataset-detail"),
    path("datasets/<int:pk>/edit/", registers.dataset_edit, name="dataset-edit"),
    path("vendors/", registers.vendor_list, name="vendor-list"),
    path("vendors/new/", registers.vendor_create, name="vendor-create"),
    path("vendors/<int:pk>/", registers.vendor_detail, name="vendor-detail"),
    path("vendors/<int:pk>/edit/", registers.vendor_edit, name="vendor-edit"),
    path("ownership-gaps/", registers.ownership_gaps_report, name="ownership-gaps"),
]
