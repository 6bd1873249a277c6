"""Sign-in pages of single sign-on: the BizGaze suite's ``/sso`` and the sign-in page that routes an address to
its organization's identity provider."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from connect.errors import ApplicationError


def bizgaze_sso(request: HttpRequest) -> HttpResponse:
    """``/sso?token=...``: sign in from the BizGaze suite."""
    from django.contrib.auth import login

    from orgs.access import session_record_sso

    from .services import bizgaze_sign_in

    token = request.GET.get("token") or request.POST.get("token", "")
    try:
        user, organization = bizgaze_sign_in(token, ip=request.META.get("REMOTE_ADDR"))
    except ApplicationError as exc:
        context = {
            "message": exc.message,
            "title": _("Sign-in from BizGaze did not work"),
            "hint": _("Go back to BizGaze and open Connect again, or sign in here with your e-mail and password."),
        }
        return render(request, "integrations/sso_error.html", context, status=exc.status_code)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    session_record_sso(request, organization)  # signed in by the organization's own identity system
    return redirect("home")


def login_router(request: HttpRequest) -> HttpResponse:
    """The sign-in page: addresses of an organization with single sign-on go to its identity provider; a member
    of an SSO-only organization cannot use a password (owners can, as an audited break-glass)."""
    from allauth.account.views import login as allauth_login

    from orgs.access import Assurance, person_refusal, sso_required_context

    from .services import BREAK_GLASS_SESSION_KEY, sso_for_email

    if request.method == "POST":
        email = request.POST.get("login", "").strip().lower()
        config = sso_for_email(email)
        break_glass = request.POST.get("break_glass") == "1"
        if config is not None and not break_glass:
            return redirect(reverse("connect_oidc_login", kwargs={"provider_id": config.provider_id}))
        if config is not None:
            # Audited once the sign-in completes (after its code step, if any): services.record_sign_in.
            request.session[BREAK_GLASS_SESSION_KEY] = config.organization_id
        response = allauth_login(request)
        user = request.user if request.user.is_authenticated else None
        if user is not None:
            # A password session of someone whose organization requires single sign-on (owners excepted). Members
            # with an authenticator stop at the code step first; orgs.access refuses their session after it.
            refusal = person_refusal(user, Assurance(second_factor=True))
            if refusal is not None:
                from django.contrib.auth import logout

                logout(request)
                return render(request, "integrations/sso_error.html", sso_required_context(refusal), status=403)
        return response
    return allauth_login(request)
