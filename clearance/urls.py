"""URL map: the platform's own pages, each app's urls.py, the API and the admin. Names are global and
short ('system-detail'); the permission matrix test walks them all."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from catalog.api.views import AISystemViewSet
from clearance import views as clearance_views
from clearance.observability.health import healthz, readyz
from clearance.observability.metrics import metrics_view
from clearance.sso import views as sso_views
from compliance.api.views import FrameworkControlsView, FrameworkViewSet, SystemComplianceView
from governance.api.views import GateChecksView, ReviewViewSet, download_client, gate_keys, policy_schema
from intake.api.views import UseCaseRequestViewSet
from risks.api.views import IncidentViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("systems", AISystemViewSet, basename="api-system")
router.register("requests", UseCaseRequestViewSet, basename="api-request")
router.register("reviews", ReviewViewSet, basename="api-review")
router.register("frameworks", FrameworkViewSet, basename="api-framework")
router.register("incidents", IncidentViewSet, basename="api-incident")

api_v1: list[URLPattern | URLResolver] = [
    path("gate/checks", GateChecksView.as_view(), name="api-gate-checks"),
    path("frameworks/<slug:framework_id>/controls/", FrameworkControlsView.as_view(), name="api-framework-controls"),
    path("systems/<slug:slug>/compliance/", SystemComplianceView.as_view(), name="api-system-compliance"),
    path("gate/client.py", download_client, name="api-gate-client"),
    path("policy/readiness.schema.json", policy_schema, name="api-policy-schema"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    # Answered by clearance.observability.health.OperationsMiddleware before the rest of the stack;
    # listed here so they have names (reverse, the permission matrix) like every other URL.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", sso_views.LoginView.as_view(), name="login"),
    path("logout/", sso_views.LogoutView.as_view(), name="logout"),
    path("sso/start/", sso_views.SsoStartView.as_view(), name="sso-start"),
    path("sso/callback/", sso_views.SsoCallbackView.as_view(), name="sso-callback"),
    path("password/", sso_views.PasswordChangeView.as_view(), name="password-change"),
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
    path("", include("integrations.urls")),
    path("api/v1/", include(api_v1)),
    # Provisioning by an identity provider (SCIM 2.0; plain Django views, not in the OpenAPI).
    path("scim/v2/", include("provisioning.scim.urls")),
    # Before the admin's own: with local passwords off its password form sends people to /login/.
    path("admin/login/", sso_views.admin_login, name="admin-login"),
    # Where deploy tooling finds the keys that verify gate attestations (RFC 8615 well-known prefix).
    path(".well-known/clearance/gate-keys.json", gate_keys, name="gate-keys"),
    path("admin/", admin.site.urls),
]

handler400 = "clearance.views.bad_request"
handler403 = "clearance.views.permission_denied"
handler404 = "clearance.views.not_found"
handler500 = "clearance.views.server_error"
