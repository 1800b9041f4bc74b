"""Risk register URLs."""

from django.urls import path

from risks.views import risks as views

urlpatterns = [
    path("risks/", views.risk_portfolio, name="risk-portfolio"),
    path("systems/<slug:slug>/risks/", views.system_risks, name="system-risks"),
    path("systems/<slug:slug>/risks/new/", views.risk_create_view, name="risk-create"),
    path("risks/<int:pk>/edit/", views.risk_edit, name="risk-edit"),
    path("risks/<int:pk>/accept/<slug:slug>/", views.risk_accept_view, name="risk-accept"),
]
