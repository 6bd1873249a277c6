"""Responses that carry a secret (tokens, keys, client and signing secrets, recovery codes, tickets) must not be
kept by a browser's cache, a proxy or a shared cache: ``Cache-Control: no-store``, and ``Pragma: no-cache`` for
HTTP/1.0 caches. RFC 6749 asks the same of OAuth2 token responses.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpResponseBase

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


def no_store_headers(response: HttpResponseBase) -> HttpResponseBase:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def no_store(view: ViewFunc) -> ViewFunc:
    """Decorate a view function, a view's handler method (Django or DRF), or a view from ``as_view()``."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> HttpResponseBase:
        return no_store_headers(view(*args, **kwargs))

    return wrapped  # type: ignore[return-value]
