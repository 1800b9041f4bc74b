"""URL map. Names are global and short ('system-detail'); the permission matrix test walks them all."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from catalog import register_views
from catalog import views as catalog_views
from catalog.api.views import AISystemViewSet
from clearance import views as clearance_views
from governance import decision_views, export_views, waiver_views
from governance import evidence as governance_evidence
from governance import triage as triage_views
from governance import views as governance_views
from governance.api.views import GateChecksView, ReviewViewSet, download_client, policy_schema
from intake import views as intake_views
from intake.api.views import UseCaseRequestViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("systems", AISystemViewSet, basename="api-system")
router.register("requests", UseCaseRequestViewSet, basename="api-request")
router.register("reviews", ReviewViewSet, basename="api-review")

api_v1 = [
    path("gate/checks", GateChecksView.as_view(), name="api-gate-checks"),
    path("gate/client.py", download_client, name="api-gate-client"),
    path("policy/readiness.schema.json", policy_schema, name="api-policy-schema"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("", governance_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", clearance_views.notifications, name="notifications"),
    path("notifications/read/", clearance_views.notifications_read, name="notifications-read"),
    path("tokens/", clearance_views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", clearance_views.token_revoke, name="token-revoke"),
    # intake
    path("requests/", intake_views.request_list, name="request-list"),
    path("requests/new/", intake_views.request_create, name="request-create"),
    path("requests/<int:pk>/", intake_views.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", intake_views.request_edit, name="request-edit"),
    path("requests/start/", intake_views.request_start, name="request-start"),
    path("requests/<int:pk>/comments/", intake_views.request_comment, name="request-comment"),
    path("requests/<int:pk>/attachments/", intake_views.request_attach, name="request-attach"),
    path("attachments/<int:pk>/", intake_views.attachment_download, name="attachment-download"),
    path("requests/<int:pk>/steps/<slug:step>/", intake_views.request_step, name="request-step"),
    path("requests/<int:pk>/submit/", intake_views.request_submit, name="request-submit"),
    path("requests/<int:pk>/withdraw/", intake_views.request_withdraw, name="request-withdraw"),
    path("triage/", triage_views.triage_board, name="triage-board"),
    path("triage/bulk-reviews/", triage_views.triage_bulk_reviews, name="triage-bulk-reviews"),
    path("triage/agenda/", triage_views.triage_agenda, name="triage-agenda"),
    path("triage/<int:pk>/", triage_views.triage_detail, name="triage-detail"),
    path("triage/<int:pk>/reviews/", governance_views.reviews_open, name="reviews-open"),
    # governance
    path("reviews/queue/<slug:kind>/", governance_views.queue, name="queue"),
    path("reviews/queue/<slug:kind>/assign/", governance_views.queue_assign, name="queue-assign"),
    path("reviews/<int:pk>/", governance_views.review_detail, name="review-detail"),
    path("reviews/<int:pk>/claim/", governance_views.review_claim, name="review-claim"),
    path("reviews/<int:pk>/decide/", governance_views.review_decide, name="review-decide"),
    path("readiness/", governance_views.portfolio, name="portfolio"),
    path("audit/", governance_views.audit_trail, name="audit-trail"),
    path("decisions/<int:pk>/decide/", governance_views.decision_decide, name="decision-decide"),
    path("systems/<slug:slug>/waivers/new/", waiver_views.waiver_create, name="waiver-create"),
    path("waivers/<int:pk>/decide/", waiver_views.waiver_decide_view, name="waiver-decide"),
    path("waivers/<int:pk>/revoke/", waiver_views.waiver_revoke_view, name="waiver-revoke"),
    # catalog (the system page aggregates governance, so its view lives there)
    path("systems/", catalog_views.system_list, name="system-list"),
    path("systems/<slug:slug>/", governance_views.system_detail, name="system-detail"),
    path("systems/<slug:slug>/settings/", catalog_views.system_settings, name="system-settings"),
    path("systems/<slug:slug>/model-card/", catalog_views.model_card_edit, name="model-card-edit"),
    path("systems/<slug:slug>/model-card/v<int:version>/", catalog_views.model_card_detail, name="model-card-detail"),
    path("systems/<slug:slug>/model-card/v<int:version>/publish/", catalog_views.model_card_publish,
         name="model-card-publish"),
    path("systems/<slug:slug>/decisions/new/", governance_views.decision_create, name="decision-create"),
    # evidence pipeline (sources, sync runs, requirements) and its portfolio
    path("", include("catalog.evidence_urls")),
    path("evidence/", governance_evidence.evidence_portfolio, name="evidence-portfolio"),
    # catalog documents (issue 4)
    path("systems/<slug:slug>/model-card/import/", catalog_views.model_card_import, name="model-card-import"),
    path("systems/<slug:slug>/model-card/compare/", catalog_views.model_card_compare, name="model-card-compare"),
    path("systems/<slug:slug>/model-card/v<int:version>/export/<slug:fmt>/", catalog_views.model_card_export,
         name="model-card-export"),
    path("decisions/<int:pk>/", decision_views.decision_detail, name="decision-detail"),
    path("decisions/<int:pk>/edit/", decision_views.decision_edit, name="decision-edit"),
    path("decisions/<int:pk>/pdf/", export_views.decision_pdf, name="decision-pdf"),
    path("systems/<slug:slug>/model-card/v<int:version>/pdf/", export_views.model_card_pdf, name="model-card-pdf"),
    path("systems/<slug:slug>/dossier/", export_views.dossier_create, name="dossier-create"),
    path("exports/<int:pk>/", export_views.export_detail, name="export-detail"),
    path("exports/<int:pk>/progress/", export_views.export_progress, name="export-progress"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
    path("datasets/", register_views.dataset_list, name="dataset-list"),
    path("datasets/new/", register_views.dataset_create, name="dataset-create"),
    path("datasets/<int:pk>/", register_views.dataset_detail, name="dataset-detail"),
    path("datasets/<int:pk>/edit/", register_views.dataset_edit, name="dataset-edit"),
    path("vendors/", register_views.vendor_list, name="vendor-list"),
    path("vendors/new/", register_views.vendor_create, name="vendor-create"),
    path("vendors/<int:pk>/", register_views.vendor_detail, name="vendor-detail"),
    path("vendors/<int:pk>/edit/", register_views.vendor_edit, name="vendor-edit"),
    path("ownership-gaps/", register_views.ownership_gaps_report, name="ownership-gaps"),
    path("search/", decision_views.search_page, name="search"),
    # API and admin
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]

handler400 = "clearance.views.bad_request"
handler403 = "clearance.views.permission_denied"
handler404 = "clearance.views.not_found"
handler500 = "clearance.views.server_error"
