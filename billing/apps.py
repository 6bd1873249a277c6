from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Plans and billing"

    def ready(self) -> None:
        # Metering: a support session's minutes are recorded inside the transaction that ends it (billing.metering).
        from connect import events

        from .metering import record_session_ended

        events.record_in_transaction(record_session_ended)

        # Stripe (dj-stripe): the webhook receivers that drive the licence, and where the stripe library sends requests.
        from . import stripe_events, tasks_billing  # noqa: F401  (tasks_billing: billing.dunning, billing.end_trials)
        from .payments import configure_stripe

        configure_stripe()
