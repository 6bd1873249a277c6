"""OAuth2 endpoints inside an organization: authorization by its members only, and token introspection (RFC 7662)
inside the calling client's organization.

django-oauth-toolkit authenticates the caller (client credentials by HTTP Basic or in the body, or a bearer token)
but then answers about any token of the server. Here a client learns only about tokens issued to applications of
its own organization; another organization's token looks exactly like an unknown one.

Revocation (RFC 7009) needs no subclass: django-oauth-toolkit 3.4.1 (pinned) revokes only tokens issued to the
authenticated client itself (``OAuth2Validator.revoke_token`` filters on ``request.client``), narrower than its
organization, and answers 200 for anything else. ``integrations/tests/test_oauth_introspection.py`` holds both.
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from oauth2_provider.models import get_access_token_model
from oauth2_provider.views import AuthorizationView, IntrospectTokenView
from oauthlib.common import Request as OAuthlibRequest

from orgs.models import Membership, Organization
from orgs.tenancy import cross_organization

from ..models import Application
from .oauth import OAUTH_CLIENT_LOOKUP

CALLER_ATTRIBUTE = "oauth_calling_application"


class OrganizationAuthorizationView(AuthorizationView):
    """An application acts inside its organization only, so only that organization's members can authorize it."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            client_id = request.GET.get("client_id") or request.POST.get("client_id") or ""
            application = (
                Application.objects.unscoped(OAUTH_CLIENT_LOOKUP)
                .select_related("organization")
                .filter(client_id=client_id)
                .first()
                if "\x00" not in client_id
                else None  # the toolkit then answers its own invalid-client page
            )
            if (
                application is not None
                and not Membership.objects.filter(
                    user=request.user,
                    organization=application.organization,
                    organization__status=Organization.Status.ACTIVE,
                ).exists()
            ):
                error = {
                    "error": "access_denied",
                    "description": _("%(app)s belongs to an organization you are not a member of.")
                    % {"app": application.name},
                }
                return render(request, "oauth2_provider/authorize.html", {"error": error}, status=403)
        with cross_organization(OAUTH_CLIENT_LOOKUP):  # the toolkit finds the client by client_id, in its own code
            return super().dispatch(request, *args, **kwargs)


def token_is_of_callers_organization(caller: Application | None, token_value: str) -> bool:
    """Whether the access token ``token_value`` was issued to an application of ``caller``'s organization.
    A public client's credentials are in every copy of the app, so they prove nothing: never."""
    if caller is None or caller.client_type != Application.CLIENT_CONFIDENTIAL:
        return False
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    return (
        get_access_token_model()
        .objects.filter(token_checksum=checksum, application__organization_id=caller.organization_id)
        .exists()
    )


class OrganizationIntrospectTokenView(IntrospectTokenView):
    """``/oauth/introspect/``: ``{"active": false}`` for a token of another organization (RFC 7662 section 2.2: the
    same answer as for an unknown token, so nothing about it leaks), the toolkit's answer for the caller's own."""

    def authenticate_client(self, request: HttpRequest) -> bool:
        # The toolkit's check (OAuthLibCore.authenticate_client), keeping the application it authenticated.
        core = self.get_oauthlib_core()
        oauth_request = OAuthlibRequest(*core._extract_params(request))
        if not core.server.request_validator.authenticate_client(oauth_request):
            return False
        setattr(request, CALLER_ATTRIBUTE, oauth_request.client)
        return True

    def verify_request(self, request: HttpRequest):
        # The other way in: a bearer token with the ``introspection`` scope speaks for the application it was
        # issued to.
        valid, oauth_request = super().verify_request(request)
        if valid:
            setattr(request, CALLER_ATTRIBUTE, getattr(oauth_request, "client", None))
        return valid, oauth_request

    def _answer(self, request: HttpRequest, token_value: str | None) -> HttpResponse:
        if token_value is not None and not token_is_of_callers_organization(
            getattr(request, CALLER_ATTRIBUTE, None), token_value
        ):
            return JsonResponse({"active": False})
        return self.get_token_response(token_value)

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return self._answer(request, request.GET.get("token"))

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return self._answer(request, request.POST.get("token"))
