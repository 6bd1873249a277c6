from django.apps import AppConfig


class MachinesConfig(AppConfig):
    name = "machines"
    verbose_name = "Unattended machines"
    default_auto_field = "django.db.models.BigAutoField"
