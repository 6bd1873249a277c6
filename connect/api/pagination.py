"""Pagination of API lists (docs/api.md, "Lists")."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, LimitOffsetPagination

MAX_PAGE = 200


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Short lists (members, invitations, keys, webhooks): ``?limit=`` and ``?offset=``, ``limit`` at most 200."""

    default_limit = 50
    max_limit = MAX_PAGE


class NewestFirstCursorPagination(CursorPagination):
    """Lists that grow without end (support sessions): newest first, page by page with an opaque ``cursor``.

    No ``COUNT(*)`` per page (its cost grows with the organization's history), and no row shown twice or skipped
    while new sessions are being created, which offsets cannot promise.
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE
