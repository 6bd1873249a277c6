"""Factories for push: a registration on a signed-in device, a person's preferences, a queued message."""

from __future__ import annotations

import factory
from django.utils import timezone

from orgs.models import Device
from orgs.tests.factories import DeviceFactory, UserFactory
from push.models import Kind, Priority, PushMessage, PushPreference, PushRegistration


class PushRegistrationFactory(factory.django.DjangoModelFactory):
    """An FCM registration of an Android phone by default (``ios=True``: APNs on an iPhone)."""

    class Meta:
        model = PushRegistration

    class Params:
        ios = factory.Trait(
            provider=PushRegistration.Provider.APNS,
            platform=Device.Platform.IOS,
            device=factory.SubFactory(DeviceFactory, platform=Device.Platform.IOS),
            token=factory.Sequence(lambda n: f"{n:064x}"),
        )

    device = factory.SubFactory(DeviceFactory)
    provider = PushRegistration.Provider.FCM
    platform = Device.Platform.ANDROID
    token = factory.Sequence(lambda n: f"fcm-token-{n}:APA91b{'x' * 40}")
    app_version = "1.0.0"
    locale = "en"


class PushPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushPreference

    user = factory.SubFactory(UserFactory)


class PushMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushMessage

    registration = factory.SubFactory(PushRegistrationFactory)
    kind = Kind.CUSTOMER_WAITING
    payload = factory.LazyFunction(lambda: {"title": "A customer is waiting", "body": "Acme Inc", "data": {}})
    priority = Priority.HIGH
    next_attempt_at = factory.LazyFunction(timezone.now)
