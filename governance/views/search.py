"""Search across systems, model cards, decision records and requests."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render

from clearance.web import AuthenticatedHttpRequest
from governance.selectors.search import search


@login_required
def search_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    results = search(request.user, q) if q else {}
    return render(request, "governance/search.html", {
        "q": q, "results": results, "total": sum(len(hits) for hits in results.values()),
        "engine": "full-text" if connection.vendor == "postgresql" else "substring match",
    })
