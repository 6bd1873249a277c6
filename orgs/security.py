"""django-axes hooks: who is signing in, and what a locked-out client is told."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext as _

from connect.errors import error_response


def axes_username(request, credentials: dict | None) -> str | None:
    """The e-mail being tried: from the credentials passed to authenticate(), or the posted form."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value and request is not None and request.method == "POST":
        value = request.POST.get("login") or request.POST.get("username") or request.POST.get("email")
    return value.strip().lower() if isinstance(value, str) else value


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _("Too many failed sign-in attempts. Try again in %(minutes)d minutes or reset your password.") % {
        "minutes": minutes
    }


def lockout_response(request, credentials=None, *args, **kwargs):
    retry = int(settings.AXES_COOLOFF_TIME.total_seconds())
    if request.path.startswith("/api/"):
        response = error_response("too_many_attempts", lockout_message(), 429, {"retry_after_seconds": retry})
    else:
        response = render(request, "orgs/locked_out.html", {"message": lockout_message()}, status=429)
    response["Retry-After"] = str(retry)
    return response
