from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from connect import events

        from . import webhooks

        events.record_in_transaction(webhooks.record)
