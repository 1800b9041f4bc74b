"""Reads for the webhook pages: the list with each webhook's delivery counts, and a delivery log."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from integrations.choices import DeliveryStatus
from integrations.models import Delivery, Webhook


def webhooks_with_counts(webhooks: QuerySet[Webhook]) -> QuerySet[Webhook]:
    """One query for any number of webhooks: the failed and waiting deliveries of each."""
    return webhooks.annotate(
        failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
        waiting=Count("deliveries", filter=Q(deliveries__status__in=[
            DeliveryStatus.PENDING, DeliveryStatus.RETRYING, DeliveryStatus.SENDING])),
        delivered=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DELIVERED)),
    ).order_by("name", "pk")


def delivery_log(webhook: Webhook, status: str = "") -> QuerySet[Delivery]:
    deliveries = Delivery.objects.filter(webhook=webhook).select_related("event").order_by("-created_at", "-pk")
    return deliveries.filter(status=status) if status else deliveries


def status_counts(webhook: Webhook) -> list[tuple[str, int]]:
    """(status label, deliveries) in the order of the states, the empty ones left out."""
    found = dict(Delivery.objects.filter(webhook=webhook).values_list("status").annotate(n=Count("pk")))
    return [(str(label), found[value]) for value, label in DeliveryStatus.choices if found.get(value)]
