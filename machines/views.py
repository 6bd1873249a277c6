"""Pages: the machine list (live), one machine with its connections, enrolling machines, and a group's policy."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from connect.errors import ApplicationError
from connect.links import absolute_url
from connect.nocache import no_store
from orgs.models import Membership
from orgs.views import OrgScopedMixin
from sessions.services import Actor

from . import presence, services
from .models import WEEKDAYS, EnrollmentToken, Machine, MachineConnection, MachineGroup

DAY_NAMES = [
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
]


def _groups(org) -> list[MachineGroup]:
    services.default_group(org.organization)
    return list(MachineGroup.objects.for_org(org.organization))


class MachineListPageView(OrgScopedMixin, View):
    """Every machine of the organization, online or not, with a Connect button where the policy allows it."""

    required_scope = "machines:read"

    def get(self, request: HttpRequest) -> HttpResponse:
        groups = _groups(self.org)
        machines = list(
            Machine.objects.for_org(self.org.organization)
            .filter(removed_at__isnull=True)
            .select_related("group")
            .prefetch_related("group__allowed_users")
        )
        chosen = request.GET.get("group", "")
        if chosen:
            machines = [m for m in machines if m.group.public_id == chosen]
        online = presence.online_machines_sync([m.public_id for m in machines])
        now = timezone.now()
        rows = []
        for machine in machines:
            refusal = None
            if machine.public_id in online:
                refusal = services.connect_refusal(self.org, machine, now)
            rows.append(
                {
                    "machine": machine,
                    "online": machine.public_id in online,
                    "may_connect": machine.public_id in online and refusal is None,
                    "refusal": refusal.message if refusal is not None else "",
                }
            )
        rows.sort(key=lambda row: (not row["online"], row["machine"].name.lower()))
        return self.render(
            "machines/list.html",
            {
                "rows": rows,
                "groups": groups,
                "chosen": chosen,
                "online_count": len(online),
                "can_write": self.has_scope("machines:write"),
                "hours_text": {g.public_id: services.hours_text(g) for g in groups},
            },
        )


class MachineConnectPageView(OrgScopedMixin, View):
    required_scope = "sessions:write"

    def post(self, request: HttpRequest, machine_id: str) -> HttpResponse:
        machine = self.get_object(Machine, public_id=machine_id)
        try:
            session = services.machine_connect(
                org=self.org, machine=machine, actor=Actor.from_request(request, "agent", request.user)
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("machine_list", org_slug=self.org.organization.slug)
        return redirect("session_viewer", org_slug=self.org.organization.slug, session_id=session.public_id)


class MachineForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    group = forms.ChoiceField(label=gettext_lazy("Group"))
    tags = forms.CharField(
        label=gettext_lazy("Tags"), required=False, help_text=gettext_lazy("Separated by commas, e.g. 'kiosk, berlin'.")
    )

    def __init__(self, *args, groups: list[MachineGroup], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [(g.public_id, g.name) for g in groups]


class MachineDetailPageView(OrgScopedMixin, View):
    required_scope = "machines:read"

    def _page(self, machine: Machine, form: MachineForm | None = None, status: int = 200) -> HttpResponse:
        groups = _groups(self.org)
        form = form or MachineForm(
            initial={"name": machine.name, "group": machine.group.public_id, "tags": ", ".join(machine.tags)},
            groups=groups,
        )
        connections = MachineConnection.objects.for_org(self.org.organization).filter(machine=machine)[:50]
        return self.render(
            "machines/detail.html",
            {
                "machine": machine,
                "online": presence.machine_online_sync(machine.public_id),
                "form": form,
                "connections": connections,
                "can_write": self.has_scope("machines:write"),
                "hours": services.hours_text(machine.group),
            },
            status=status,
        )

    def get(self, request: HttpRequest, machine_id: str) -> HttpResponse:
        return self._page(self.get_object(Machine, public_id=machine_id))

    def post(self, request: HttpRequest, machine_id: str) -> HttpResponse:
        if not self.has_scope("machines:write"):
            raise PermissionDenied
        machine = self.get_object(Machine, public_id=machine_id)
        if request.POST.get("action") == "remove":
            services.machine_remove(org=self.org, machine=machine)
            messages.success(
                request, _("%(name)s was removed; its agent can no longer connect.") % {"name": machine.name}
            )
            return redirect("machine_list", org_slug=self.org.organization.slug)
        form = MachineForm(request.POST, groups=_groups(self.org))
        if not form.is_valid():
            return self._page(machine, form, status=400)
        group = MachineGroup.objects.for_org(self.org.organization).get(public_id=form.cleaned_data["group"])
        tags = [t for t in (part.strip() for part in form.cleaned_data["tags"].split(",")) if t]
        try:
            services.machine_update(
                org=self.org, machine=machine, name=form.cleaned_data["name"], group=group, tags=tags
            )
        except ApplicationError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None, exc.message)
            return self._page(machine, form, status=exc.status_code)
        messages.success(request, _("Saved."))
        return redirect("machine_detail", org_slug=self.org.organization.slug, machine_id=machine.public_id)


class EnrollmentForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What it is for, e.g. 'Berlin office laptops'."),
    )
    group = forms.ChoiceField(label=gettext_lazy("Machines join the group"))
    uses = forms.ChoiceField(
        label=gettext_lazy("Uses"),
        choices=[("1", gettext_lazy("One machine")), ("many", gettext_lazy("Any number of machines until it expires"))],
        initial="1",
    )
    expires_in_hours = forms.IntegerField(
        label=gettext_lazy("Expires after (hours)"), min_value=1, max_value=24 * 365, initial=24 * 7
    )

    def __init__(self, *args, groups: list[MachineGroup], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [(g.public_id, g.name) for g in groups]


class EnrollmentPageView(OrgScopedMixin, View):
    """Enrollment tokens: create one (shown once, with the command to run), see and revoke the active ones."""

    required_scope = "machines:write"

    def _page(self, form: EnrollmentForm, *, created=None, status: int = 200) -> HttpResponse:
        now = timezone.now()
        tokens = [
            t
            for t in EnrollmentToken.objects.for_org(self.org.organization).select_related("group", "created_by")
            if t.state(now) == "active"
        ]
        return self.render(
            "machines/enroll.html",
            {"form": form, "tokens": tokens, "created": created, "server": absolute_url("home").rstrip("/")},
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(EnrollmentForm(groups=_groups(self.org)))

    @no_store  # the new token is on this page
    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("action") == "revoke":
            token = self.get_object(EnrollmentToken, public_id=request.POST.get("token", ""))
            services.enrollment_token_revoke(org=self.org, token=token)
            messages.success(request, _("Enrollment token '%(name)s' revoked.") % {"name": token.name})
            return redirect("machine_enrollment", org_slug=self.org.organization.slug)
        groups = _groups(self.org)
        form = EnrollmentForm(request.POST, groups=groups)
        if not form.is_valid():
            return self._page(form, status=400)
        values = form.cleaned_data
        group = next(g for g in groups if g.public_id == values["group"])
        try:
            token, secret = services.enrollment_token_create(
                org=self.org,
                name=values["name"],
                group=group,
                max_uses=None if values["uses"] == "many" else 1,
                expires_in=timedelta(hours=values["expires_in_hours"]),
            )
        except ApplicationError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None, exc.message)
            return self._page(form, status=exc.status_code)
        return self._page(EnrollmentForm(groups=groups), created=(token, secret), status=201)


class GroupForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    access = forms.ChoiceField(label=gettext_lazy("Who may connect unattended"), choices=MachineGroup.Access.choices)
    allowed_users = forms.MultipleChoiceField(
        label=gettext_lazy("People listed (when only they may connect)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    require_consent = forms.BooleanField(
        label=gettext_lazy("The person at the machine must consent to each connection"), required=False
    )
    hours_start = forms.TimeField(
        label=gettext_lazy("Allowed from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    hours_end = forms.TimeField(
        label=gettext_lazy("Allowed until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=gettext_lazy("Both empty: at any hour. An end before the start spans midnight."),
    )
    weekdays = forms.MultipleChoiceField(
        label=gettext_lazy("Allowed days (none ticked: every day)"),
        required=False,
        choices=[(str(d), DAY_NAMES[d]) for d in WEEKDAYS],
        widget=forms.CheckboxSelectMultiple,
    )
    timezone = forms.CharField(label=gettext_lazy("Time zone"), max_length=64, initial="UTC")

    def __init__(self, *args, members: list[Membership], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["allowed_users"].choices = [(m.user.public_id, m.user.get_full_name()) for m in members]


class GroupPageView(OrgScopedMixin, View):
    """A group's policy (``new``: create a group)."""

    required_scope = "machines:read"

    def _members(self) -> list[Membership]:
        return list(Membership.objects.for_org(self.org.organization).select_related("user"))

    def _page(self, group: MachineGroup | None, form: GroupForm, status: int = 200) -> HttpResponse:
        return self.render(
            "machines/group.html",
            {"group": group, "form": form, "can_write": self.has_scope("machines:write")},
            status=status,
        )

    def _group(self, group_id: str) -> MachineGroup | None:
        return None if group_id == "new" else self.get_object(MachineGroup, public_id=group_id)

    def get(self, request: HttpRequest, group_id: str) -> HttpResponse:
        group = self._group(group_id)
        initial = {"timezone": "UTC", "access": MachineGroup.Access.ADMINS}
        if group is not None:
            initial = {
                "name": group.name,
                "access": group.access,
                "allowed_users": [u.public_id for u in group.allowed_users.all()],
                "require_consent": group.require_consent,
                "hours_start": group.hours_start,
                "hours_end": group.hours_end,
                "weekdays": [str(d) for d in group.weekdays],
                "timezone": group.timezone,
            }
        return self._page(group, GroupForm(initial=initial, members=self._members()))

    def post(self, request: HttpRequest, group_id: str) -> HttpResponse:
        if not self.has_scope("machines:write"):
            raise PermissionDenied
        group = self._group(group_id)
        members = self._members()
        form = GroupForm(request.POST, members=members)
        if not form.is_valid():
            return self._page(group, form, status=400)
        values = dict(form.cleaned_data)
        chosen = set(values.pop("allowed_users"))
        allowed = [m.user for m in members if m.user.public_id in chosen]
        values["weekdays"] = sorted(int(d) for d in values["weekdays"])
        name = values.pop("name")
        try:
            group = services.group_save(org=self.org, group=group, name=name, allowed_users=allowed, **values)
        except ApplicationError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None, exc.message)
            return self._page(group, form, status=exc.status_code)
        messages.success(request, _("Policy of %(name)s saved.") % {"name": group.name})
        return redirect("machine_list", org_slug=self.org.organization.slug)
