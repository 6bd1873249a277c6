"""The viewer's time zone: the pages' script detects it (``Intl``) and stores it in the ``tz`` cookie; this
middleware activates it for the request, so templates and exports show times where the person is. Default UTC;
a value that names no zone is ignored."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

COOKIE = "tz"


@lru_cache(maxsize=512)
def zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone ``name`` names (``Europe/Paris``), or ``None`` for anything else."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name or "\x00" in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = zone_named(unquote(request.COOKIES.get(COOKIE, "")))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()  # the default: UTC
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
