"""The device sign-in page (``/device/``): a signed-in person types the code a TV or the desktop agent shows, checks
what asks to sign in, and approves or denies it (orgs.device_grant)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from connect.errors import ApplicationError

from . import device_grant
from .access import session_assurance


class UserCodeForm(forms.Form):
    user_code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "autofocus": True}
        ),
        help_text=gettext_lazy("The eight letters your device shows, like BCDF-GHJK."),
    )


def _form_page(request: HttpRequest, form: UserCodeForm, *, error: ApplicationError | None = None) -> HttpResponse:
    if error is not None:
        form.add_error("user_code" if error.status_code != 403 else None, error.message)
    status = error.status_code if error is not None else 200
    return render(request, "orgs/device.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def device_verification(request: HttpRequest) -> HttpResponse:
    """GET without a code: the form. GET with ``?user_code=`` (the form, or the link the device shows): what asks to
    sign in, with Approve and Deny. POST (CSRF-protected): the decision."""
    ip = request.META.get("REMOTE_ADDR")
    if request.method == "POST":
        code = request.POST.get("user_code", "")
        action = request.POST.get("action")
        try:
            if action == "approve":
                second_factor = session_assurance(request.user, request.session).second_factor
                row = device_grant.device_authorization_approve(
                    user_code=code, user=request.user, ip=ip, second_factor=second_factor
                )
            elif action == "deny":
                row = device_grant.device_authorization_deny(user_code=code, user=request.user, ip=ip)
            else:
                return _form_page(request, UserCodeForm(initial={"user_code": code}))
        except ApplicationError as exc:
            return _form_page(request, UserCodeForm(data={"user_code": code}), error=exc)
        return render(request, "orgs/device.html", {"decided": row, "approved": action == "approve"})

    if "user_code" not in request.GET:
        return _form_page(request, UserCodeForm())
    form = UserCodeForm(request.GET)
    if not form.is_valid():
        return render(request, "orgs/device.html", {"form": form}, status=400)
    try:
        row = device_grant.device_authorization_for_code(
            user_code=form.cleaned_data["user_code"], user=request.user, ip=ip
        )
    except ApplicationError as exc:
        return _form_page(request, form, error=exc)
    return render(
        request,
        "orgs/device.html",
        {"authorization": row, "shown_code": device_grant.format_user_code(row.user_code)},
    )
