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

        user_logged_in.connect(sso.record_sign_in, dispatch_uid="connect-sso-sign-in")

        # However an OAuth2 token ends (revoked, its application deleted, its person's access ended), the sockets
        # it opened close: django-oauth-toolkit deletes the row, so its deletion is the one place to hear it.
        from django.db.models.signals import post_delete
        from oauth2_provider.models import get_access_token_model

        from orgs.access import announce

        post_delete.connect(
            lambda sender, instance, **kwargs: announce([f"cred:oauth:{instance.pk}"]),
            sender=get_access_token_model(),
            dispatch_uid="connect-oauth-token-ended",
            weak=False,
        )
