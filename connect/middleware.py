"""Request guards that run before any view.

Two layers guard the body. Under ASGI (``python -m connect.serve``), :class:`ASGIBodyGuard` wraps the HTTP application:
it counts the bytes actually received, chunked bodies included, answers 413 the moment the limit is passed and stops
reading, and answers 408 to a body that stalls. The Django middlewares below hold under WSGI and the test client too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from .errors import error_body, error_response

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _too_large(limit: int) -> tuple[int, str, str, dict[str, Any]]:
    message = _("The request body is larger than %(limit)d bytes.") % {"limit": limit}
    return 413, "payload_too_large", message, {"limit_bytes": limit}


class BodySizeLimitMiddleware:
    """Refuse request bodies above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with 413 before anything reads them.

    Django only checks the limit when ``request.body`` is read; parsers that read the stream would not. A chunked
    body without a length reaches Django only under WSGI (the ASGI guard gives it one), where it would read as empty:
    411, rather than silently ignoring it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get("HTTP_TRANSFER_ENCODING") and not request.META.get("CONTENT_LENGTH"):
            return error_response(
                "length_required", _("Send the request body with a Content-Length, not chunked."), 411
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit and length > limit:
            status, code, message, details = _too_large(limit)
            return error_response(code, message, status, details)
        return self.get_response(request)


class HostileInputMiddleware:
    """Input no view can use is refused before any view, ours or a library's, sees it (issue 10):

    - a NUL character in the path: 404 (no route or object has one, and PostgreSQL refuses it in a query);
    - a NUL in a query parameter: 400 naming the parameter;
    - a body a page cannot read: a POST, PUT or PATCH with a body that is not a form, to a view that checks CSRF (the
      pages; the API, the OAuth2 endpoints and webhook receivers are CSRF-exempt and parse their own types), is 415
      instead of being read as an empty form.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            return error_response("not_found", _("Not found."), 404)
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return error_response(
                    "validation_error",
                    _("The query parameter '%(name)s' contains a NUL character.") % {"name": name.replace("\x00", "")},
                    400,
                    {"field": name},
                )
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if request.method not in ("POST", "PUT", "PATCH") or getattr(view_func, "csrf_exempt", False):
            return None
        try:
            has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
        except ValueError:
            has_body = True
        if not has_body or request.content_type in FORM_TYPES:
            return None
        return error_response(
            "unsupported_media_type",
            _("This page takes a form (%(types)s), not '%(type)s'.")
            % {"types": ", ".join(FORM_TYPES), "type": request.content_type},
            415,
            {"content_type": request.content_type},
        )


# --- ASGI ------------------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT: Message = {"type": "http.disconnect"}


class _GuardedRequest:
    """One request's body, as the application reads it: counted, and timed between chunks."""

    def __init__(self, receive: Receive, send: Send, *, limit: int, timeout: float) -> None:
        self._receive, self._send = receive, send
        self.limit, self.timeout = limit, timeout
        self.received = 0
        self.body_complete = False
        self.answered = False  # the guard answered for the application (413, 408)
        self.response_started = False

    async def receive(self) -> Message:
        if self.answered:
            return DISCONNECT
        if self.body_complete:  # Django then waits for the client to go away: no timeout applies
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self.timeout) if self.timeout else await self._receive()
        except TimeoutError:
            await self.refuse(
                408,
                "request_timeout",
                _("The request body stalled for more than %(n)g seconds.") % {"n": self.timeout},
                {"timeout_seconds": self.timeout},
            )
            return DISCONNECT
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.limit and self.received > self.limit:
            await self.refuse(*_too_large(self.limit))
            return DISCONNECT
        if not message.get("more_body", False):
            self.body_complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return  # the guard has answered and the connection is closing: the application's answer goes nowhere
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)

    async def refuse(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        """Answer for the application and close the connection: the rest of the body is never read."""
        self.answered = True
        if self.response_started:
            return
        body = json.dumps(error_body(code, message, details)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})


class ASGIBodyGuard:
    """ASGI middleware for HTTP bodies: the size limit on the bytes received and a timeout between chunks.

    A declared ``Content-Length`` over the limit is refused before the body is read. A chunked body is read here, at
    most the limit, and handed to Django with the ``Content-Length`` it turned out to have: Django and DRF size and
    parse a body by that header, and without it would take the body for empty.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        guard = _GuardedRequest(receive, send, limit=limit, timeout=settings.CONNECT_BODY_TIMEOUT_SECONDS)
        headers = scope.get("headers", [])
        length = next((value for name, value in headers if name == b"content-length"), None)
        chunked = any(name == b"transfer-encoding" for name, _value in headers)
        if length is not None and not chunked:
            try:
                declared = int(length)
            except ValueError:
                declared = 0  # the server's parser refuses a malformed length before we get here
            if limit and declared > limit:
                await guard.refuse(*_too_large(limit))
                return
            await self.app(scope, guard.receive, guard.send)
            return
        if not chunked:
            await self.app(scope, guard.receive, guard.send)
            return
        body = bytearray()
        while not guard.body_complete:
            message = await guard.receive()
            if message["type"] != "http.request":
                return  # the client left, or the guard answered 413 or 408
            body += message.get("body", b"")
        headers = [(n, v) for n, v in headers if n not in (b"transfer-encoding", b"content-length")]
        headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await guard.receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app({**scope, "headers": headers}, replay, guard.send)
