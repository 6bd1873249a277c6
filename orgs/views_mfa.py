"""Pages for two-factor authentication: the code step of sign-in, enrolment, recovery codes."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from connect.errors import ApplicationError
from connect.nocache import no_store

from . import mfa

SESSION_ENROLMENT = "mfa_enrolment_device"


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
        help_text=gettext_lazy("The 6-digit code from your authenticator app, or one of your recovery codes."),
    )


def mfa_verify(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in. Only reachable in the middle of a sign-in that stopped at the OTP stage."""
    # Imported here: importing allauth's stages while the URLconf loads trips a circular import inside allauth.
    from allauth.account.stages import LoginStageController

    from .login_stage import OTPLoginStage

    stage = LoginStageController.enter(request, OTPLoginStage.key)
    if stage is None:
        return redirect("account_login")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.verify_code(stage.login.user, form.cleaned_data["code"])
        except ApplicationError as exc:
            form.add_error("code", exc.message)
            status = exc.status_code
        else:
            response = stage.exit()  # django-allauth signs the user in now
            otp_login(request, device)
            return response
    return render(request, "orgs/mfa_verify.html", {"form": form}, status=status)


@no_store  # the enrolment secret (QR code, manual key) and recovery codes are shown here
@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Two-factor status; start, confirm or remove an authenticator; regenerate recovery codes."""
    user = request.user
    context: dict = {"enabled": mfa.has_confirmed_device(user), "form": CodeForm()}
    action = request.POST.get("action") if request.method == "POST" else None
    ip = request.META.get("REMOTE_ADDR")
    status = 200

    if action == "start":
        device = mfa.totp_enrolment_start(user)
        request.session[SESSION_ENROLMENT] = device.pk
    elif action == "confirm":
        form = CodeForm(request.POST)
        context["form"] = form
        if form.is_valid():
            try:
                codes = mfa.totp_enrolment_confirm(
                    user, request.session.get(SESSION_ENROLMENT), form.cleaned_data["code"], ip=ip
                )
            except ApplicationError as exc:
                form.add_error("code", exc.message)
                status = exc.status_code
            else:
                request.session.pop(SESSION_ENROLMENT, None)
                device = TOTPDevice.objects.filter(user=user, confirmed=True).latest("pk")
                otp_login(request, device)  # this session has just proven the device
                messages.success(request, _("Two-factor authentication is on."))
                return render(request, "orgs/mfa_recovery_codes.html", {"codes": codes})
    elif action == "regenerate" and context["enabled"]:
        codes = mfa.recovery_codes_regenerate(user, ip=ip)
        return render(request, "orgs/mfa_recovery_codes.html", {"codes": codes})
    elif action == "disable" and context["enabled"]:
        form = CodeForm(request.POST)
        context["form"] = form
        if not form.is_valid():
            status = 400
        elif mfa.org_requires_mfa(user):
            form.add_error(None, _("Your organization requires two-factor authentication; it cannot be turned off."))
            status = 403
        else:
            try:
                mfa.verify_code(user, form.cleaned_data["code"])
            except ApplicationError as exc:
                form.add_error("code", exc.message)
                status = exc.status_code
            else:
                mfa.mfa_disable(user, ip=ip)
                messages.success(request, _("Two-factor authentication is off."))
                return redirect("account_security")

    pending = TOTPDevice.objects.filter(user=user, confirmed=False, pk=request.session.get(SESSION_ENROLMENT)).first()
    if pending:
        context.update(pending=pending, qr=mfa.qr_code_data_uri(pending), manual_key=mfa.manual_key(pending))
    context["recovery_left"] = mfa.recovery_codes_left(user)
    context["required"] = mfa.org_requires_mfa(user)
    context["enabled"] = mfa.has_confirmed_device(user)
    return render(request, "orgs/security.html", context, status=status)
