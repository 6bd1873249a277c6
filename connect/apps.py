from django.apps import AppConfig


class ConnectConfig(AppConfig):
    name = "connect"
    verbose_name = "BizGaze Connect"

    def ready(self) -> None:
        from .api import schema  # noqa: F401  (registers the OpenAPI authentication extensions)
