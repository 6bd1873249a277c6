"""Path converters for the product's routes.

``<public_id:...>`` is every identifier or token a route takes: the random public ids (``ses_...``, ``usr_...``), secret
tokens (``inv_...``), OAuth2 client ids and ``org-<slug>`` provider ids. Anything else, a NUL byte (which PostgreSQL
refuses in a query), a quote, a slash or ten kilobytes of text, matches no route and answers 404 before any query runs.
"""

from __future__ import annotations

from django.urls import register_converter

PUBLIC_ID_PATTERN = r"[A-Za-z0-9_-]{1,128}"


class PublicIdConverter:
    regex = PUBLIC_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# Registered when this module is first imported: every urls module that uses the converter imports it.
register_converter(PublicIdConverter, "public_id")
