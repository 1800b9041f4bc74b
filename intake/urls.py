"""Intake URLs: use-case requests, the guided form, comments and attachments."""

from django.urls import path

from intake import views

urlpatterns = [
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_create, name="request-create"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request-edit"),
    path("requests/start/", views.request_start, name="request-start"),
    path("requests/<int:pk>/comments/", views.request_comment, name="request-comment"),
    path("requests/<int:pk>/attachments/", views.request_attach, name="request-attach"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    path("requests/<int:pk>/steps/<slug:step>/", views.request_step, name="request-step"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request-submit"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request-withdraw"),
]
