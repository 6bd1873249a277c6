from django.apps import AppConfig


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = "Meetings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # orgs exports and erases people without importing this app: their meetings are registered in.
        from orgs import privacy as org_privacy

        from . import privacy

        org_privacy.register_personal_data(
            "meetings", org_privacy.PersonalData(export=privacy.export_meetings, before_erasure=privacy.pseudonymize)
        )
