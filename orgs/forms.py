from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.AGENT)


class InvitationSignupForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    password = forms.CharField(label=_("Choose a password"), widget=forms.PasswordInput, min_length=10, max_length=128)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class OrganizationSecurityForm(forms.Form):
    require_mfa = forms.BooleanField(
        label=_("Require two-factor authentication for every member"),
        required=False,
        help_text=_("Members without an authenticator are sent to set one up before they can do anything else."),
    )
    agents_see_all_sessions = forms.BooleanField(
        label=_("Agents can see every support session"),
        required=False,
        help_text=_(
            "Off: an agent sees only the sessions they ran. On: agents also see other agents' sessions and their logs, "
            "but only the session's agent, owners and admins can open the viewer or end a session."
        ),
    )


def _retention_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        max_value=3650,
        help_text=_("Days. Empty: kept until the organization is deleted."),
        widget=forms.NumberInput(attrs={"placeholder": _("keep"), "inputmode": "numeric"}),
    )


class RetentionForm(forms.Form):
    """How long the organization keeps what accumulates (audit.retention purges the rest daily)."""

    session_log_retention_days = _retention_field(_("Session logs"))
    chat_retention_days = _retention_field(_("Chat"))
    audit_retention_days = _retention_field(_("Audit log"))


class FileTransferForm(forms.Form):
    """The largest file the agent and the customer may send each other in a session (sessions.files)."""

    max_megabytes = forms.IntegerField(
        label=_("Largest file (MB)"),
        required=False,
        min_value=1,
        max_value=2048,
        help_text=_("From 1 to 2048 MB. Empty: the default of this installation."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
