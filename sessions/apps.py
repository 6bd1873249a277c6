from django.apps import AppConfig


class SupportSessionsConfig(AppConfig):
    """Remote-support sessions. Labelled ``support`` so it cannot clash with ``django.contrib.sessions``."""

    name = "sessions"
    label = "support"
    verbose_name = "Support sessions"

    def ready(self) -> None:
        # orgs exports and erases people without importing this app: chat lines a person wrote are registered in.
        from orgs import privacy

        from . import chat

        privacy.register_personal_data(
            "chat_lines",
            privacy.PersonalData(export=chat.export_chat_lines, before_erasure=chat.pseudonymize_chat_sender),
        )

        # The organization's file-transfer limit is a card of its settings page (sessions.files).
        from orgs import views as org_views

        from . import files

        org_views.register_settings_section("files", files.settings_section())
