"""Pages for an organization's webhook endpoints: add, enable or disable, rotate the secret, test, redeliver."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from connect.errors import ApplicationError
from connect.nocache import no_store
from orgs.views import OrgScopedMixin

from ..models import WebhookDelivery, WebhookEndpoint
from . import services as webhooks
from .catalogue import EVENT_TYPES


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=gettext_lazy("URL"),
        max_length=2000,
        assume_scheme="https",
        help_text=gettext_lazy(
            "An address reachable from the internet; addresses inside a private network (private, loopback, "
            "link-local) are refused."
        ),
    )
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
