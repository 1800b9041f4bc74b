"""Clearance: the Django project (settings, urls, Celery app) and the platform pieces every app
shares: the audit chain, the outbox, notifications, API tokens and roles."""

from .celery import app as celery_app

__all__ = ("celery_app",)
