from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    """Recordings of support sessions, stored in object storage (``STORAGES["recordings"]``)."""

    name = "recordings"
    verbose_name = "Recordings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orgs import views as org_views

        from . import settings_section

        org_views.register_settings_section("recording", settings_section.settings_section())

        from orgs import privacy as org_privacy

        from . import privacy

        org_privacy.register_personal_data(
            "recordings",
            org_privacy.PersonalData(export=privacy.export_recordings, before_erasure=privacy.pseudonymize),
        )
