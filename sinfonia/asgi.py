"""ASGI entry point: tus uploads streamed by `api.tus`, everything else by Django."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sinfonia.settings")
django_application = get_asgi_application()

from sinfonia.api.tus import TusApp  # noqa: E402  (needs Django set up first)

application = TusApp(django_application)
