"""Pages for integrations: the OAuth2 consent screen, the organization's API keys and webhooks."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from oauth2_provider.views import AuthorizationView

from connect.errors import ApplicationError
from connect.nocache import no_store
from connect.scopes import SCOPES
from orgs.models import Membership, Organization
from orgs.tenancy import cross_organization
from orgs.views import OrgScopedMixin

from . import services, webhooks
from .catalogue import EVENT_TYPES
from .models import APIKey, Application, WebhookDelivery, WebhookEndpoint
from .oauth import OAUTH_CLIENT_LOOKUP


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


class APIKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=100, help_text=gettext_lazy("What uses this key, e.g. 'Zendesk sync'.")
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=[(code, f"{code}: {text}") for code, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Expires (optional, UTC)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class APIKeysView(OrgScopedMixin, View):
    """List, create (shown once) and revoke the organization's API keys."""

    required_scope = "api_keys:read"

    def _page(self, form: APIKeyForm, *, created: tuple | None = None, status: int = 200) -> HttpResponse:
        keys = (
            APIKey.objects.for_org(self.org.organization).filter(revoked_at__isnull=True).select_related("created_by")
        )
        return self.render(
            "integrations/api_keys.html",
            {"keys": keys, "form": form, "created": created, "can_write": self.has_scope("api_keys:write")},
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(APIKeyForm())

    @no_store  # the new key is on this page
    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.has_scope("api_keys:write"):
            raise PermissionDenied
        form = APIKeyForm(request.POST)
        if not form.is_valid():
            return self._page(form, status=400)
        try:
            key, secret = services.api_key_create(org=self.org, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(exc.details.get("field"), exc.message)
            return self._page(form, status=exc.status_code)
        # The key is rendered in this response only; it is never stored in clear.
        return self._page(APIKeyForm(), created=(key, secret), status=201)


class APIKeyRevokeView(OrgScopedMixin, View):
    required_scope = "api_keys:write"

    def post(self, request: HttpRequest, key_id: str) -> HttpResponse:
        key = self.get_object(APIKey, public_id=key_id)
        services.api_key_revoke(key=key, by=self.org)
        messages.success(request, _("API key '%(name)s' revoked.") % {"name": key.name})
        return redirect("org_api_keys", org_slug=self.org.organization.slug)


class WebhookForm(forms.Form):
    url = forms.URLField(label=gettext_lazy("URL"), max_length=2000, assume_scheme="https")
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("Events (none ticked: all)"),
        choices=[(name, name) for name in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


class WebhooksView(OrgScopedMixin, View):
    """The organization's webhook endpoints: add, enable or disable, rotate the secret, test, see deliveries."""

    required_scope = "webhooks:read"

    def _page(self, form: WebhookForm, *, secret: tuple | None = None, status: int = 200) -> HttpResponse:
        endpoints = WebhookEndpoint.objects.for_org(self.org.organization).prefetch_related(
            Prefetch(
                "deliveries",
                queryset=WebhookDelivery.objects.select_related("event")
                .prefetch_related("attempt_log")
                .order_by("-created_at"),
            )
        )
        return self.render(
            "integrations/webhooks.html",
            {"endpoints": endpoints, "form": form, "secret": secret, "can_write": self.has_scope("webhooks:write")},
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(WebhookForm())

    @no_store  # a new or rotated signing secret is on this page
    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.has_scope("webhooks:write"):
            raise PermissionDenied
        action = request.POST.get("action", "create")
        if action == "create":
            form = WebhookForm(request.POST)
            if not form.is_valid():
                return self._page(form, status=400)
            try:
                endpoint = webhooks.endpoint_create(
                    organization=self.org.organization, actor=self.org, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_error(exc.details.get("field"), exc.message)
                return self._page(form, status=exc.status_code)
            return self._page(WebhookForm(), secret=(endpoint, endpoint.secret), status=201)
        endpoint = self.get_object(WebhookEndpoint, public_id=request.POST.get("endpoint", ""))
        if action == "rotate":
            webhooks.endpoint_rotate_secret(endpoint=endpoint, actor=self.org)
            return self._page(WebhookForm(), secret=(endpoint, endpoint.secret))
        if action == "test":
            webhooks.endpoint_send_test(endpoint=endpoint)
            messages.success(request, _("Test event queued for %(url)s.") % {"url": endpoint.url})
        elif action in ("enable", "disable"):
            webhooks.endpoint_update(endpoint=endpoint, actor=self.org, enabled=action == "enable")
        elif action == "delete":
            webhooks.endpoint_delete(endpoint=endpoint, actor=self.org)
            messages.success(request, _("Endpoint removed."))
        elif action == "redeliver":
            delivery_id = request.POST.get("delivery", "")
            delivery = (
                WebhookDelivery.objects.filter(endpoint=endpoint, public_id=delivery_id).first()
                if "\x00" not in delivery_id  # PostgreSQL refuses NUL in a query: such an id names nothing
                else None
            )
            if delivery is None:
                raise Http404
            webhooks.delivery_redeliver(delivery=delivery)
            messages.success(request, _("Delivery queued again."))
        return redirect("org_webhooks", org_slug=self.org.organization.slug)


def bizgaze_sso(request: HttpRequest) -> HttpResponse:
    """``/sso?token=...``: sign in from the BizGaze suite."""
    from django.contrib.auth import login

    from orgs.access import session_record_sso

    from .sso import bizgaze_sign_in

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

    from .sso import BREAK_GLASS_SESSION_KEY, sso_for_email

    if request.method == "POST":
        email = request.POST.get("login", "").strip().lower()
        config = sso_for_email(email)
        break_glass = request.POST.get("break_glass") == "1"
        if config is not None and not break_glass:
            return redirect(reverse("connect_oidc_login", kwargs={"provider_id": config.provider_id}))
        if config is not None:
            # Audited once the sign-in completes (after its code step, if any): integrations.sso.record_sign_in.
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
