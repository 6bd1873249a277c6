"""The two-factor step of django-allauth's sign-in (kept apart from orgs.mfa, which middleware imports early)."""

from allauth.account.stages import LoginStage
from allauth.core.internal.httpkit import headed_redirect_response

from .mfa import has_confirmed_device


class OTPLoginStage(LoginStage):
    """django-allauth login stage: a user with a confirmed device gives a code before being signed in."""

    key = "connect_otp"
    urlname = "mfa_verify"

    def handle(self):
        if has_confirmed_device(self.login.user):
            return headed_redirect_response(self.urlname), True
        return None, True
