"""Request guards that run before any view."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from .errors import error_response


class BodySizeLimitMiddleware:
    """Refuse request bodies above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with 413 before anything reads them.

    Django only checks the limit when ``request.body`` is read; parsers that read the stream would not.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit and length > limit:
            return error_response(
                "payload_too_large",
                _("The request body is larger than %(limit)d bytes.") % {"limit": limit},
                413,
                {"limit_bytes": limit},
            )
        return self.get_response(request)
