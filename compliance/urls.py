"""Compliance URLs: a system's statement of applicability (and its two forms), portfolio coverage."""

from django.urls import path

from compliance import views

urlpatterns = [
    path("systems/<slug:slug>/compliance/", views.system_compliance, name="system-compliance"),
    path("systems/<slug:slug>/compliance/attest/", views.attest, name="compliance-attest"),
    path("systems/<slug:slug>/compliance/profile/", views.operator_profile, name="compliance-profile"),
    path("compliance/", views.coverage_page, name="compliance-coverage"),
    path("compliance/export.csv", views.coverage_csv, name="compliance-csv"),
    path("compliance/frameworks/import/", views.framework_import_page, name="compliance-framework-import"),
    path("compliance/frameworks/<slug:framework_id>/oscal.json", views.framework_oscal,
         name="compliance-framework-oscal"),
]
