"""Server-rendered pages for organizations, members and invitations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from connect.errors import ApplicationError, NotFound
from connect.scopes import SCOPES

from . import selectors, services
from .forms import (
    InvitationForm,
    InvitationSignupForm,
    OrganizationSecurityForm,
    RetentionForm,
    RoleForm,
)
from .models import Invitation, Membership, Role
from .tenancy import OrgContext, get_for_org_or_404, org_context_for_user


def page_refusal(org: OrgContext, scope: str) -> str:
    """Why ``org``'s person may not open a page that needs ``scope``: the sentence the 403 page shows."""
    return _(
        "Your role in %(org)s (%(role)s) does not include this page, which is for people who may %(what)s. "
        "An owner or admin of %(org)s can change your role."
    ) % {
        "org": org.organization.name,
        "role": org.membership.get_role_display() if org.membership else _("no role"),
        "what": SCOPES.get(scope, scope)[:1].lower() + SCOPES.get(scope, scope)[1:],
    }


class OrgScopedMixin(LoginRequiredMixin):
    """Base for every page under ``/o/<org_slug>/``: resolves the organization once, or answers 404.

    Handlers read ``self.org`` (an :class:`OrgContext`) and fetch objects with :meth:`get_object`, which
    stays inside that organization. ``required_scope`` names the scope the page needs.
    """

    required_scope: str = "org:read"
    org: OrgContext

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        try:
            self.org = org_context_for_user(request.user, kwargs.pop("org_slug"))
        except NotFound:
            raise Http404(_("Organization not found.")) from None
        request.org_context = self.org  # the error pages (connect.errors) show this organization's menu
        if not self.org.has_scope(self.required_scope):
            raise PermissionDenied(page_refusal(self.org, self.required_scope))
        return super().dispatch(request, *args, **kwargs)

    def has_scope(self, scope: str) -> bool:
        return self.org.has_scope(scope)

    def get_object(self, model, **lookup):
        try:
            return get_for_org_or_404(model, self.org.organization, **lookup)
        except NotFound:
            raise Http404 from None

    def render(self, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
        base = {
            "org": self.org.organization,
            "membership": self.org.membership,
            "view": self,
            "org_scopes": self.org.scopes,
        }
        return render(self.request, template, {**base, **(context or {})}, status=status)


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:  # customers arrive here too: the code field beside "Sign in"
        return render(request, "orgs/home.html", {"memberships": None, "open_signup": settings.CONNECT_OPEN_SIGNUP})
    memberships = list(selectors.memberships_for_user(request.user))
    if len(memberships) == 1:
        return redirect("org_dashboard", org_slug=memberships[0].organization.slug)
    open_signup = settings.CONNECT_OPEN_SIGNUP
    if not memberships and open_signup:  # signed up on their own: name the organization next
        return redirect("org_new")
    return render(request, "orgs/home.html", {"memberships": memberships, "open_signup": open_signup})


class DashboardView(OrgScopedMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        organization = self.org.organization
        members = selectors.organization_members(organization)
        context: dict[str, Any] = {"member_count": members.count()}
        # Owners and admins: the getting-started checklist until it is done, and where the trial stands.
        if self.has_scope("members:write"):
            getting_started = selectors.organization_getting_started(organization)
            context["getting_started"] = None if getting_started.complete else getting_started
        if self.has_scope("usage:read"):
            context["trial"] = selectors.organization_trial(organization)
        return self.render("orgs/dashboard.html", context)


class MembersView(OrgScopedMixin, View):
    required_scope = "members:read"

    def _page(self, form: InvitationForm, status: int = 200, plan_limit: dict | None = None) -> HttpResponse:
        from billing import entitlements

        organization = self.org.organization
        ents = entitlements.entitlements_for(organization)
        return self.render(
            "orgs/members.html",
            {
                "members": selectors.organization_members(organization),
                "invitations": selectors.organization_pending_invitations(organization),
                "form": form,
                "can_invite": self.has_scope("members:write"),
                "roles": Role.choices,
                "seats": ents.seats,
                "seats_taken": entitlements.seats_used(organization) + entitlements.open_seat_invitations(organization),
                "can_buy_seats": self.has_scope("billing:write"),
                "plan_limit": plan_limit,
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(InvitationForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.has_scope("members:write"):
            raise PermissionDenied
        form = InvitationForm(request.POST)
        if not form.is_valid():
            return self._page(form, status=400)
        try:
            invitation, _token = services.invitation_create(
                organization=self.org.organization, inviter=request.user, **form.cleaned_data
            )
        except ApplicationError as exc:
            form.add_error(exc.details.get("field"), exc.message)
            return self._page(
                form, status=exc.status_code, plan_limit=exc.details if exc.code == "plan_limit" else None
            )
        messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
        return redirect("org_members", org_slug=self.org.organization.slug)


class InvitationRevokeView(OrgScopedMixin, View):
    required_scope = "members:write"

    def post(self, request: HttpRequest, invitation_id: str) -> HttpResponse:
        invitation = self.get_object(Invitation, public_id=invitation_id)
        try:
            services.invitation_revoke(invitation=invitation, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Invitation to %(email)s withdrawn.") % {"email": invitation.email})
        return redirect("org_members", org_slug=self.org.organization.slug)


def _invitation_page(request, token, *, invitation=None, error=None, form=None, status=200):
    return render(
        request,
        "orgs/invitation.html",
        {"invitation": invitation, "error": error, "form": form, "token": token},
        status=status,
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Show an invitation and accept it: signed in as the invitee, or by creating the invitee's account."""
    try:
        invitation = services.invitation_by_token(token)
        services.invitation_check_usable(invitation)
    except ApplicationError as exc:
        return _invitation_page(request, token, error=exc.message, status=exc.status_code)

    account_exists = services.User.objects.filter(email=invitation.email.lower()).exists()
    form = InvitationSignupForm() if not account_exists and not request.user.is_authenticated else None
    if request.method != "POST":
        return _invitation_page(request, token, invitation=invitation, form=form)

    try:
        if request.user.is_authenticated:
            membership = services.invitation_accept(token=token, user=request.user)
        else:
            form = InvitationSignupForm(request.POST)
            if account_exists or not form.is_valid():
                return _invitation_page(request, token, invitation=invitation, form=form, status=400)
            membership = services.invitation_accept_with_signup(token=token, **form.cleaned_data)
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    except ApplicationError as exc:
        return _invitation_page(
            request, token, invitation=invitation, form=form, error=exc.message, status=exc.status_code
        )
    messages.success(request, _("Welcome to %(org)s.") % {"org": membership.organization.name})
    return redirect("org_dashboard", org_slug=membership.organization.slug)


class MemberRoleView(OrgScopedMixin, View):
    required_scope = "members:write"

    def post(self, request: HttpRequest, user_id: str) -> HttpResponse:
        membership = self.get_object(Membership, user__public_id=user_id)
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a role."))
        else:
            try:
                services.membership_change_role(membership=membership, actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    _("%(email)s is now %(role)s.")
                    % {"email": membership.user.email, "role": membership.get_role_display()},
                )
        return redirect("org_members", org_slug=self.org.organization.slug)


class MemberRemoveView(OrgScopedMixin, View):
    required_scope = "members:write"

    def post(self, request: HttpRequest, user_id: str) -> HttpResponse:
        membership = self.get_object(Membership, user__public_id=user_id)
        try:
            services.membership_remove(membership=membership, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(email)s was removed.") % {"email": membership.user.email})
        return redirect("org_members", org_slug=self.org.organization.slug)


@dataclass(frozen=True)
class SettingsSection:
    """A card of the organization settings page that another app owns (single sign-on: integrations.sso), so that
    orgs does not import it. Its form posts ``section=<name>`` to the settings page."""

    # Included in orgs/settings.html, after the cards of orgs, with the page's context.
    template: str
    # What the template needs for a plain view of the page: context(view) -> dict.
    context: Callable[[OrganizationSettingsView], dict[str, Any]]
    # The POST of its form: save(view, request) -> response (view.page(...) to show the page again with errors).
    save: Callable[[OrganizationSettingsView, HttpRequest], HttpResponse]


_SETTINGS_SECTIONS: dict[str, SettingsSection] = {}


def register_settings_section(name: str, section: SettingsSection) -> None:
    """Add a card to every organization's settings page (registering a name again replaces it)."""
    _SETTINGS_SECTIONS[name] = section


class OrganizationSettingsView(OrgScopedMixin, View):
    # Only those who may change the settings see the page (and its menu entry): for anyone else it held nothing to do.
    required_scope = "org:write"

    def page(
        self,
        retention_form: RetentionForm | None = None,
        status: int = 200,
        sections: dict[str, dict[str, Any]] | None = None,
    ) -> HttpResponse:
        """The settings page; ``sections`` gives a registered section's context instead of its own (a form with
        errors)."""
        organization = self.org.organization
        form = OrganizationSecurityForm(
            initial={name: getattr(organization, name) for name in services.ORGANIZATION_SETTINGS}
        )
        retention_form = retention_form or RetentionForm(
            initial={name: getattr(organization, name) for name in services.RETENTION_SETTINGS}
        )
        context: dict[str, Any] = {}
        for name, section in _SETTINGS_SECTIONS.items():
            context.update((sections or {}).get(name) or section.context(self))
        return self.render(
            "orgs/settings.html",
            {
                **context,
                "form": form,
                "retention_form": retention_form,
                "can_edit": self.has_scope("org:write"),
                "settings_sections": [section.template for section in _SETTINGS_SECTIONS.values()],
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page()

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.has_scope("org:write"):
            raise PermissionDenied
        section = request.POST.get("section")
        if section in _SETTINGS_SECTIONS:
            return _SETTINGS_SECTIONS[section].save(self, request)
        if section == "retention":
            return self._save_retention(request)
        form = OrganizationSecurityForm(request.POST)
        if form.is_valid():
            try:
                services.organization_update_settings(
                    organization=self.org.organization, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Settings saved."))
        return redirect("org_settings", org_slug=self.org.organization.slug)

    def _save_retention(self, request: HttpRequest) -> HttpResponse:
        retention_form = RetentionForm(request.POST)
        if not retention_form.is_valid():
            return self.page(retention_form, status=400)
        try:
            services.organization_update_settings(
                organization=self.org.organization, actor=request.user, **retention_form.cleaned_data
            )
        except ApplicationError as exc:
            retention_form.add_error(exc.details.get("field"), exc.message)
            return self.page(retention_form, status=exc.status_code)
        messages.success(request, _("Retention saved. Older records are removed once a day."))
        return redirect("org_settings", org_slug=self.org.organization.slug)
