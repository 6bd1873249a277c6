"""A person's push registrations and preferences are in their personal-data export, described without the
provider's token, and go with the person when they are erased."""

import json

import pytest

from orgs import privacy
from orgs.tests.factories import DeviceFactory
from push.models import PushMessage, PushPreference, PushRegistration
from push.tests.factories import PushPreferenceFactory, PushRegistrationFactory

pytestmark = pytest.mark.django_db


def test_the_export_describes_registrations_and_preferences_without_tokens(bob, alice):
    registration = PushRegistrationFactory(device=DeviceFactory(user=bob))
    PushRegistrationFactory(device=DeviceFactory(user=alice))  # someone else's
    PushPreferenceFactory(user=bob, transfer=False, timezone="Europe/Paris")
    data = privacy.user_export(user=bob)
    [row] = data["push_registrations"]
    assert row["id"] == registration.public_id and row["provider"] == "fcm" and row["app_version"] == "1.0.0"
    assert registration.token not in json.dumps(data)
    assert data["push_preferences"] == [
        {
            "session_request": True,
            "customer_waiting": True,
            "transfer": False,
            "meeting_invitation": True,
            "quiet_hours_start": None,
            "quiet_hours_end": None,
            "timezone": "Europe/Paris",
        }
    ]


def test_erasure_takes_the_registrations_preferences_and_queued_messages(bob):
    registration = PushRegistrationFactory(device=DeviceFactory(user=bob))
    PushPreferenceFactory(user=bob)
    PushMessage.objects.create(registration=registration, kind="transfer", payload={}, collapse_key="x")
    privacy.user_erase(user=bob)
    assert not PushRegistration.objects.exists() and not PushPreference.objects.exists()
    assert not PushMessage.objects.exists()
