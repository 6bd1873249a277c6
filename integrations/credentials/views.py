"""Pages for an organization's credentials: its API keys (created, shown once, revoked)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from connect.errors import ApplicationError
from connect.nocache import no_store
from connect.scopes import SCOPES
from orgs.views import OrgScopedMixin

from ..models import APIKey
from . import services


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
