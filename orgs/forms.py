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
