"""Every URL of Clearance plus a bare JSON view doing one indexed query: the benchmark's ceiling."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from catalog.models import AISystem
from clearance.urls import urlpatterns as clearance_urlpatterns


def ceiling(request: HttpRequest, slug: str) -> JsonResponse:
    row = AISystem.objects.filter(slug=slug).values("id", "slug", "risk_tier").first()
    return JsonResponse(row or {}, status=200 if row else 404)


urlpatterns = [path("bench/ceiling/<slug:slug>", ceiling), *clearance_urlpatterns]
