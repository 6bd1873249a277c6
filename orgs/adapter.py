"""django-allauth hooks: the MFA login stage, and sign-up only where the operator opened it."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        return [*super().get_login_stages(), "orgs.login_stage.OTPLoginStage"]

    def is_open_for_signup(self, request) -> bool:
        # People join an organization through an invitation (orgs.views.invitation_accept); open sign-up
        # is for deployments that let anyone create an account.
        return settings.CONNECT_OPEN_SIGNUP
