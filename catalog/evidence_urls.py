"""Evidence URLs (names are global, like every other URL in clearance/urls.py)."""

from django.urls import path

from catalog import evidence_views as views

urlpatterns = [
    path("systems/<slug:slug>/evidence/", views.system_evidence, name="system-evidence"),
    path("systems/<slug:slug>/evidence/sources/new/", views.source_create, name="evidence-source-create"),
    path("systems/<slug:slug>/evidence/requirements/", views.requirements, name="metric-requirements"),
    path("systems/<slug:slug>/evidence/requirements/<int:pk>/delete/", views.requirement_delete,
         name="metric-requirement-delete"),
    path("evidence/sources/<int:pk>/", views.source_detail, name="evidence-source-detail"),
    path("evidence/sources/<int:pk>/edit/", views.source_edit, name="evidence-source-edit"),
    path("evidence/sources/<int:pk>/sync/", views.source_sync, name="evidence-source-sync"),
    path("evidence/runs/<int:pk>/", views.run_detail, name="sync-run-detail"),
    path("evidence/runs/<int:pk>/progress/", views.run_progress, name="sync-run-progress"),
]
