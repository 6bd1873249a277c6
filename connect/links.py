"""Every absolute link the product makes (join links, invitations) is built here, from ``SITE_URL``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse


def absolute_url(view_name: str, *args: Any) -> str:
    """``SITE_URL`` followed by the path of ``view_name`` with ``args``."""
    return settings.SITE_URL + reverse(view_name, args=args)
