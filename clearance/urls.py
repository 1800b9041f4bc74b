"""URL map: the platform's own pages, each app's urls.py, the API and the admin. Names are global and
short ('system-detail'); the permission matrix test walks them all."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from catalog.api.views import AISystemViewSet
from clearance import views as clearance_views
from clearance.signin import ClearancePasswordChangeView
from governance.api.views import GateChecksView, ReviewViewSet, download_client, policy_schema
from intake.api.views import UseCaseRequestViewSet
from risks.api.views import IncidentViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("systems", AISystemViewSet, basename="api-system")
router.register("requests", UseCaseRequestViewSet, basename="api-request")
router.register("reviews", ReviewViewSet, basename="api-review")
router.register("incidents", IncidentViewSet, basename="api-incident")

api_v1: list[URLPattern | URLResolver] = [
    path("gate/checks", GateChecksView.as_view(), name="api-gate-checks"),
    path("gate/client.py", download_client, name="api-gate-client"),
    path("policy/readiness.schema.json", policy_schema, name="api-policy-schema"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", ClearancePasswordChangeView.as_view(), name="password-change"),
    path("password/changed/",
         auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
         name="password-change-done"),
    path("notifications/", clearance_views.notifications, name="notifications"),
    path("notifications/read/", clearance_views.notifications_read, name="notifications-read"),
    path("tokens/", clearance_views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", clearance_views.token_revoke, name="token-revoke"),
    path("", include("intake.urls")),
    path("", include("governance.urls")),
    path("", include("catalog.urls")),
    path("", include("compliance.urls")),
    path("", include("risks.urls")),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]

handler400 = "clearance.views.bad_request"
handler403 = "clearance.views.permission_denied"
handler404 = "clearance.views.not_found"
handler500 = "clearance.views.server_error"
