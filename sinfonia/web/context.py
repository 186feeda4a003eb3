from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    """Settings every page's layout shows."""
    return {"funding_notice": settings.SINFONIA_FUNDING_NOTICE}
