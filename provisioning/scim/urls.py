"""/scim/v2/…: the SCIM 2.0 endpoints (RFC 7644). Names are global and start with 'scim-'."""

from django.urls import path

from provisioning.scim import views

urlpatterns = [
    path("Users", views.UsersView.as_view(), name="scim-users"),
    path("Users/.search", views.UsersSearchView.as_view(), name="scim-users-search"),
    path("Users/<str:uuid>", views.UserView.as_view(), name="scim-user-detail"),
    path("Groups", views.GroupsView.as_view(), name="scim-groups"),
    path("Groups/.search", views.GroupsSearchView.as_view(), name="scim-groups-search"),
    path("Groups/<str:uuid>", views.GroupView.as_view(), name="scim-group-detail"),
    path("ServiceProviderConfig", views.ServiceProviderConfigView.as_view(), name="scim-service-provider-config"),
    path("ResourceTypes", views.ResourceTypesView.as_view(), name="scim-resource-types"),
    path("ResourceTypes/<str:uuid>", views.ResourceTypesView.as_view(), name="scim-resource-type"),
    path("Schemas", views.SchemasView.as_view(), name="scim-schemas"),
    path("Schemas/<str:uuid>", views.SchemasView.as_view(), name="scim-schema"),
]
