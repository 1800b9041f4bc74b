"""Governance URLs: home, triage, review queues, the system page and readiness, decision records,
waivers, exports, the evidence portfolio, search and the audit trail."""

from django.urls import path

from governance.views import (
    audit,
    dashboard,
    decisions,
    evidence,
    exports,
    home,
    reviews,
    search,
    systems,
    triage,
    waivers,
)

urlpatterns = [
    path("", home.home, name="home"),
    # triage of intake's requests (it opens reviews, so it belongs to governance)
    path("triage/", triage.triage_board, name="triage-board"),
    path("triage/bulk-reviews/", triage.triage_bulk_reviews, name="triage-bulk-reviews"),
    path("triage/agenda/", triage.triage_agenda, name="triage-agenda"),
    path("triage/<int:pk>/", triage.triage_detail, name="triage-detail"),
    path("triage/<int:pk>/reviews/", reviews.reviews_open, name="reviews-open"),
    # reviews
    path("reviews/queue/<slug:kind>/", reviews.queue, name="queue"),
    path("reviews/queue/<slug:kind>/assign/", reviews.queue_assign, name="queue-assign"),
    path("reviews/<int:pk>/", reviews.review_detail, name="review-detail"),
    path("reviews/<int:pk>/claim/", reviews.review_claim, name="review-claim"),
    path("reviews/<int:pk>/decide/", reviews.review_decide, name="review-decide"),
    # readiness
    path("readiness/", systems.portfolio, name="portfolio"),
    path("systems/<slug:slug>/", systems.system_detail, name="system-detail"),
    path("evidence/", evidence.evidence_portfolio, name="evidence-portfolio"),
    # decision records
    path("systems/<slug:slug>/decisions/new/", decisions.decision_create, name="decision-create"),
    path("decisions/<int:pk>/", decisions.decision_detail, name="decision-detail"),
    path("decisions/<int:pk>/edit/", decisions.decision_edit, name="decision-edit"),
    path("decisions/<int:pk>/decide/", decisions.decision_decide, name="decision-decide"),
    # waivers
    path("systems/<slug:slug>/waivers/new/", waivers.waiver_create, name="waiver-create"),
    path("waivers/<int:pk>/decide/", waivers.waiver_decide_view, name="waiver-decide"),
    path("waivers/<int:pk>/revoke/", waivers.waiver_revoke_view, name="waiver-revoke"),
    # PDF exports
    path("decisions/<int:pk>/pdf/", exports.decision_pdf, name="decision-pdf"),
    path("systems/<slug:slug>/model-card/v<int:version>/pdf/", exports.model_card_pdf, name="model-card-pdf"),
    path("systems/<slug:slug>/dossier/", exports.dossier_create, name="dossier-create"),
    path("exports/<int:pk>/", exports.export_detail, name="export-detail"),
    path("exports/<int:pk>/progress/", exports.export_progress, name="export-progress"),
    path("exports/<int:pk>/download/", exports.export_download, name="export-download"),
    path("search/", search.search_page, name="search"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("audit/", audit.audit_trail, name="audit-trail"),
    path("audit/export.csv", audit.audit_trail_csv, name="audit-trail-csv"),
]
