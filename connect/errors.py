"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Services raise :class:`ApplicationError` (or a subclass); the API handler, the JSON 404/500 handlers and
the health endpoints all render through :func:`error_body`, so a client parses one shape everywhere.

Every 429 says when to try again (``Retry-After``, and ``details.retry_after_seconds`` in the API): the API handler
takes it from the error's details; pages render only a refusal's status, so :class:`RetryAfterMiddleware` takes it from
the refusals noted while the request ran (:func:`note_retry_after`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

# Seconds a refused client should wait, noted while one request runs: a list set per request by
# RetryAfterMiddleware (mutable, so notes made in a copied context, e.g. behind sync_to_async, still reach it).
_retry_after_notes: ContextVar[list[int] | None] = ContextVar("connect_retry_after_notes", default=None)
DEFAULT_RETRY_AFTER_SECONDS = 60


def note_retry_after(seconds: int) -> None:
    """Note that this request was refused for ``seconds`` (outside a request: nothing to tell)."""
    notes = _retry_after_notes.get()
    if notes is not None:
        notes.append(max(1, int(seconds)))


def _noted_retry_after() -> int | None:
    notes = _retry_after_notes.get()
    return max(notes) if notes else None


class ApplicationError(Exception):
    """A rule of the product was not met. Carries what a client needs to show or act on.

    A 429 carries ``details["retry_after_seconds"]``: given, or else what a rate limit noted for this request.
    """

    status_code = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = dict(details or {})
        if self.status_code == 429:
            retry = self.details.get("retry_after_seconds") or _noted_retry_after()
            if retry:
                self.details["retry_after_seconds"] = int(retry)
                note_retry_after(retry)


class NotFound(ApplicationError):
    """Missing and forbidden-across-organizations look the same."""

    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class Forbidden(ApplicationError):
    status_code = 403
    code = "permission_denied"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def error_response(code: str, message: str, status_code: int, details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ValidationError: "validation_error",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every failure in the one shape."""
    # Imported here: rest_framework.views loads the authentication classes, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, ApplicationError):
        details = exc.details
        if exc.status_code == 429:
            details = {
                **details,
                "retry_after_seconds": details.get("retry_after_seconds") or DEFAULT_RETRY_AFTER_SECONDS,
            }
        response = Response(error_body(exc.code, exc.message, details), status=exc.status_code)
        if exc.status_code == 429:
            response["Retry-After"] = str(details["retry_after_seconds"])
        return response
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handler answers, in the same shape for /api/

    code = _drf_code(exc)
    if isinstance(exc, drf_exceptions.ValidationError):
        details = {"fields": exc.detail} if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = _("The request has invalid fields.")
    else:
        details = {}
        message = exc.detail if isinstance(exc.detail, str) else str(exc)
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait)
    response.data = error_body(code, message, details)
    return response


def _drf_code(exc: drf_exceptions.APIException) -> str:
    """The specific code an exception was raised with (``token_expired``, ``invalid_api_key``, ``person_required``...),
    else ours for its class."""
    raised = getattr(exc.detail, "code", None)
    if isinstance(raised, str) and raised != exc.default_code:
        return raised
    return next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")


class RetryAfterMiddleware:
    """Every 429, page or API, carries ``Retry-After``: the longest wait a refusal noted while the request ran."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        notes: list[int] = []
        token = _retry_after_notes.set(notes)
        try:
            response = self.get_response(request)
        finally:
            _retry_after_notes.reset(token)
        if response.status_code == 429 and not response.has_header("Retry-After"):
            response["Retry-After"] = str(max(notes) if notes else DEFAULT_RETRY_AFTER_SECONDS)
        return response


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


_wants_json = wants_json


# Pages get the product's own error pages (connect.error_pages: base layout, why, a way back); the API, this shape.


def handler404(request, exception=None):
    if wants_json(request):
        return error_response("not_found", _("Not found."), status.HTTP_404_NOT_FOUND)
    from .error_pages import page_404

    return page_404(request, exception)


def handler500(request):
    if wants_json(request):
        return error_response("server_error", _("Something went wrong on our side; it has been logged."), 500)
    from .error_pages import page_500

    return page_500(request)


def handler400(request, exception=None):
    if wants_json(request):
        return error_response("bad_request", _("The request could not be understood."), 400)
    from .error_pages import page_400

    return page_400(request, exception)


def handler403(request, exception=None):
    if wants_json(request):
        return error_response("permission_denied", _("You do not have permission to do this."), 403)
    from .error_pages import page_403

    return page_403(request, exception)
