from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    """Recordings of support sessions, stored in object storage (``STORAGES["recordings"]``)."""

    name = "recordings"
    verbose_name = "Recordings"
    default_auto_field = "django.db.models.BigAutoField"
