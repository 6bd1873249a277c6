from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    verbose_name = "Push notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orgs import privacy as orgs_privacy

        from . import handlers, privacy

        handlers.register()
        # orgs exports a person's data without importing this app: the push sections are registered in.
        orgs_privacy.register_personal_data(
            "push_registrations", orgs_privacy.PersonalData(export=privacy.export_registrations)
        )
        orgs_privacy.register_personal_data(
            "push_preferences", orgs_privacy.PersonalData(export=privacy.export_preferences)
        )
