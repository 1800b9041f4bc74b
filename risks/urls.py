"""Risk and incident register URLs."""

from django.urls import path

from risks.views import incidents
from risks.views import risks as views

urlpatterns = [
    path("risks/", views.risk_portfolio, name="risk-portfolio"),
    path("systems/<slug:slug>/risks/", views.system_risks, name="system-risks"),
    path("systems/<slug:slug>/risks/new/", views.risk_create_view, name="risk-create"),
    path("risks/<int:pk>/edit/", views.risk_edit, name="risk-edit"),
    path("risks/<int:pk>/accept/<slug:slug>/", views.risk_accept_view, name="risk-accept"),
    path("incidents/", incidents.incident_list, name="incident-list"),
    path("incidents/new/", incidents.incident_create, name="incident-create"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/move/", incidents.incident_move_view, name="incident-move"),
    path("incidents/<int:pk>/classify/", incidents.incident_classify_view, name="incident-classify"),
    path("incidents/<int:pk>/report/", incidents.incident_report_view, name="incident-report"),
    path("systems/<slug:slug>/incidents/", incidents.system_incidents, name="system-incidents"),
]
