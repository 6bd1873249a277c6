from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from connect import events

        from .webhooks import services as webhooks

        events.record_in_transaction(webhooks.record)

        from allauth.account.signals import user_logged_in

        from .sso import services as sso

        user_logged_in.connect(sso.record_sign_in, dispatch_uid="connect-sso-sign-in")

        # orgs decides access, exports and erases people, and renders the settings page without importing this
        # app: what it needs from here is registered into its extension points.
        from orgs import access, privacy
        from orgs import views as org_views

        from .credentials import privacy as credentials_privacy
        from .credentials.services import api_key_is_live
        from .sso.settings_page import SETTINGS_SECTION

        access.register_credential("api_key", is_live=api_key_is_live)
        access.register_sign_in_requirement("sso", sso.SSO_REQUIREMENT)
        privacy.register_personal_data("api_keys", privacy.PersonalData(export=credentials_privacy.export_api_keys))
        privacy.register_personal_data(
            "oauth_applications", privacy.PersonalData(before_erasure=credentials_privacy.detach_oauth_applications)
        )
        org_views.register_settings_section("sso", SETTINGS_SECTION)

        # However an OAuth2 token ends (revoked, its application deleted, its person's access ended), the sockets
        # it opened close: django-oauth-toolkit deletes the row, so its deletion is the one place to hear it.
        from django.db.models.signals import post_delete
        from oauth2_provider.models import get_access_token_model

        post_delete.connect(
            lambda sender, instance, **kwargs: access.announce([f"cred:oauth:{instance.pk}"]),
            sender=get_access_token_model(),
            dispatch_uid="connect-oauth-token-ended",
            weak=False,
        )
