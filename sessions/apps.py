from django.apps import AppConfig


class SupportSessionsConfig(AppConfig):
    """Remote-support sessions. Labelled ``support`` so it cannot clash with ``django.contrib.sessions``."""

    name = "sessions"
    label = "support"
    verbose_name = "Support sessions"
