from django.apps import AppConfig


class SignalingConfig(AppConfig):
    name = "signaling"
    verbose_name = "Signaling"

    def ready(self) -> None:
        # The session services do not know signaling exists: every committed session change reaches both ends here.
        from . import handlers

        handlers.register()
