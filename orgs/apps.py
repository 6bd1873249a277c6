from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Organizations and people"

    def ready(self) -> None:
        from allauth.account.signals import password_changed, password_reset
        from django.contrib.auth.signals import user_logged_out

        from . import access

        user_logged_out.connect(access.on_signed_out, dispatch_uid="connect-signed-out")
        password_changed.connect(access.on_password_changed, dispatch_uid="connect-password-changed")
        password_reset.connect(access.on_password_changed, dispatch_uid="connect-password-reset")
