"""The product's own 400, 403, 404 and 500 pages, on every route, with DEBUG on as well.

Pages get the base layout, a sentence saying why, and a way back (the organization's dashboard, the person's start
page, or for a customer the page to enter a session code); the API keeps the one JSON error shape
(:mod:`connect.errors` decides which a request gets). The 500 page is rendered from the template alone: no request
context, no context processor, no database, any of which may be what failed.

With DEBUG on (``make run``), Django answers an address that matches no route with a page listing every URL
pattern, and an error with a traceback and the settings. :class:`ProductErrorPagesMiddleware` keeps the product's
pages instead: for every 404, and for every 500 except on pages a signed-in person opened (developers trying the
product keep the traceback there; customers, invitees and API clients never see it). With DEBUG off Django calls
the handlers itself and the middleware does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.template import loader
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

logger = logging.getLogger("django.request")

# Addresses handed to people who have no account: customers (a code or a session link) and invitees.
CUSTOMER_PREFIXES = ("/join", "/s/", "/invitations/")
# Shown when the 500 template itself cannot be rendered (a broken template or translation): plain, self-contained.
LAST_RESORT_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong · BizGaze Connect</title>'
    '<link rel="stylesheet" href="/static/css/app.css"></head><body><main class="content"><section class="card '
    'error-page"><p class="error-code">500</p><h1>Something went wrong on our side</h1><p>It has been logged. '
    'Try again in a moment.</p><p><a class="button" href="/">Back to the start</a></p></section></main></body></html>'
)


def is_customer_path(path: str) -> bool:
    return path == "/join" or path.startswith(CUSTOMER_PREFIXES)


def _org_context(request: HttpRequest) -> dict[str, Any]:
    """The organization the page was opened in (set by ``orgs.views.OrgScopedMixin``), for its menu and a way back."""
    org = getattr(request, "org_context", None)
    if org is None:
        return {}
    return {"org": org.organization, "membership": org.membership, "org_scopes": org.scopes}


def _page(request: HttpRequest, template: str, status: int, context: dict[str, Any]) -> HttpResponse:
    body = loader.get_template(template).render(
        {**_org_context(request), "customer_route": is_customer_path(request.path), **context}, request
    )
    return HttpResponse(body, status=status)


def page_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception or "") if isinstance(exception, PermissionDenied) else ""
    org = getattr(request, "org_context", None)
    if not reason and org is not None:
        reason = _(
            "Your role in %(org)s (%(role)s) does not allow this. An owner or admin of %(org)s can change your role."
        ) % {
            "org": org.organization.name,
            "role": org.membership.get_role_display() if org.membership else _("no role"),
        }
    return _page(request, "errors/403.html", 403, {"reason": reason})


def page_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "errors/404.html", 404, {})


def page_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "errors/400.html", 400, {})


def page_csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form sent from a page open too long, or from another site."""
    return _page(request, "errors/403.html", 403, {"csrf": True})


def page_500(request: HttpRequest | None = None) -> HttpResponse:
    """No request context: the failure may be the database, a context processor or a middleware's state."""
    try:
        body = loader.get_template("errors/500.html").render({})
    except Exception:  # the page that says something went wrong must not be the next thing to go wrong
        logger.exception("the 500 page could not be rendered")
        body = LAST_RESORT_500
    return HttpResponse(body, status=500)


def _path_resolves(request: HttpRequest) -> bool:
    try:
        resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return True


def _signed_in(request: HttpRequest) -> bool:
    try:
        return bool(request.user.is_authenticated)
    except Exception:  # noqa: BLE001  (the database behind request.user may be what failed)
        return False


class ProductErrorPagesMiddleware:
    """With DEBUG on, the product's error pages instead of Django's debug pages (module docstring).

    Placed inside CommonMiddleware, so an address missing only its trailing slash is still redirected, and after
    AuthenticationMiddleware, which tells who is signed in."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if settings.DEBUG and not _path_resolves(request):
            from . import errors

            return errors.handler404(request, Http404())
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        if not settings.DEBUG:
            return None  # Django calls the handlers in connect.errors
        from . import errors

        if isinstance(exception, Http404):
            return errors.handler404(request, exception)
        if isinstance(exception, PermissionDenied):
            return None  # Django calls handler403 in debug too
        if isinstance(exception, (BadRequest, SuspiciousOperation)):
            logging.getLogger(f"django.security.{type(exception).__name__}").error(str(exception))
            return errors.handler400(request, exception)
        if not (errors.wants_json(request) or is_customer_path(request.path) or not _signed_in(request)):
            return None  # a signed-in person's page: the developer's traceback
        signals.got_request_exception.send(sender=None, request=request)
        logger.error("Internal Server Error: %s", request.path, exc_info=exception)
        return errors.handler500(request)
