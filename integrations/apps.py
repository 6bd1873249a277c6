from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from connect import events

        from . import webhooks

        events.record_in_transaction(webhooks.record)

        from allauth.account.signals import user_logged_in

        from . import sso

        user_logged_in.connect(sso.provision_on_login, dispatch_uid="connect-sso-provision")
