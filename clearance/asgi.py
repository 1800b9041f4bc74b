"""ASGI entry point. The views are synchronous: production serves WSGI with gunicorn."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearance.settings")
application = get_asgi_application()
