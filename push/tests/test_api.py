"""The push API: a native app registers its installation; people read and set their preferences; nobody reaches
anyone else's registration."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from integrations.tests.factories import APIKeyFactory
from orgs import devices
from orgs.models import Device
from push.models import PushMessage, PushRegistration

from .conftest import native_app
from .factories import PushMessageFactory, PushRegistrationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/push/registrations"


def test_an_app_registers_its_installation_once_and_refreshes_its_token(bob):
    app = native_app(bob, platform=Device.Platform.IOS)
    first = app.client.post(URL, {"provider": "apns", "token": "aa" * 32, "locale": "de-AT"}, format="json")
    assert first.status_code == 200
    body = first.json()
    assert body["device_id"] == app.device.public_id and body["platform"] == "ios" and body["current"] is True
    assert "token" not in body  # never echoed
    again = app.client.post(
        URL, {"provider": "apns", "token": "bb" * 32, "app_version": "2.0", "locale": "de-AT"}, format="json"
    )
    assert again.json()["id"] == body["id"] and again.json()["app_version"] == "2.0"
    registration = PushRegistration.objects.get()
    assert registration.token == "bb" * 32
    app.device.refresh_from_db()
    assert app.device.push_token == "bb" * 32

    listed = app.client.get(URL).json()
    assert [r["id"] for r in listed] == [body["id"]]


def test_a_token_registered_by_another_installation_moves_to_the_new_one(alice, bob):
    old = native_app(alice)
    old.client.post(URL, {"provider": "fcm", "token": "shared-phone"}, format="json")
    new = native_app(bob)
    new.client.post(URL, {"provider": "fcm", "token": "shared-phone"}, format="json")
    [registration] = PushRegistration.objects.all()
    assert registration.device == new.device
    assert old.client.get(URL).json() == []


def test_unregistering_this_installation_stops_its_pushes(bob):
    app = native_app(bob)
    app.client.post(URL, {"provider": "fcm", "token": "t1"}, format="json")
    registration = PushRegistration.objects.get()
    waiting = PushMessageFactory(registration=registration)
    assert app.client.delete(URL).status_code == 204
    registration.refresh_from_db()
    waiting.refresh_from_db()
    assert registration.disabled_at is not None and registration.disabled_reason == "unregistered"
    assert waiting.status == PushMessage.Status.DROPPED
    assert app.client.delete(URL).status_code == 204  # nothing left to do: still fine
    assert app.client.get(URL).json() == []


def test_a_signed_out_installation_is_no_longer_listed(bob):
    app = native_app(bob)
    app.client.post(URL, {"provider": "fcm", "token": "t1"}, format="json")
    devices.device_revoke(device=app.device)
    client = APIClient()
    client.force_login(bob)
    assert client.get(URL).json() == []


def test_only_a_native_app_registers(bob, acme):
    browser = APIClient()
    browser.force_login(bob)
    response = browser.post(URL, {"provider": "fcm", "token": "t"}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "native_app_required"
    key = APIKeyFactory(organization=acme)
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    response = machine.post(URL, {"provider": "fcm", "token": "t"}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "person_required"
    assert not PushRegistration.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"provider": "webpush", "token": "t"}, {"provider": "fcm"}, {"provider": "fcm", "token": "t", "extra": 1}],
)
def test_bad_registrations_are_refused(bob, body):
    response = native_app(bob).client.post(URL, body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"]
    assert not PushRegistration.objects.exists()


def test_nobody_deletes_or_reads_someone_elses_registration(alice, bob, gina):
    """bob of Acme, alice of Acme and gina of Globex: each sees only their own."""
    bobs = PushRegistrationFactory(device__user=bob)
    ginas = PushRegistrationFactory(device__user=gina)
    alice_app = native_app(alice)
    for registration in (bobs, ginas):
        assert alice_app.client.get(f"{URL}/{registration.public_id}").status_code == 404
        response = alice_app.client.delete(f"{URL}/{registration.public_id}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        registration.refresh_from_db()
        assert registration.disabled_at is None
    bob_app = native_app(bob)
    assert bob_app.client.delete(f"{URL}/{ginas.public_id}").status_code == 404
    # bob may end pushes to his own phone from any of his credentials (here: another of his installations).
    assert bob_app.client.get(f"{URL}/{bobs.public_id}").json()["current"] is False
    assert bob_app.client.delete(f"{URL}/{bobs.public_id}").status_code == 204
    bobs.refresh_from_db()
    assert bobs.disabled_at is not None


def test_preferences_read_as_defaults_and_change_partially(bob):
    client = native_app(bob).client
    assert client.get("/api/v1/push/preferences").json() == {
        "session_request": True,
        "customer_waiting": True,
        "transfer": True,
        "meeting_invitation": True,
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        "timezone": "UTC",
    }
    response = client.put(
        "/api/v1/push/preferences",
        {"transfer": False, "quiet_hours_start": "22:00", "quiet_hours_end": "07:00", "timezone": "Europe/Paris"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["transfer"] is False and body["customer_waiting"] is True
    assert (body["quiet_hours_start"], body["quiet_hours_end"], body["timezone"]) == (
        "22:00",
        "07:00",
        "Europe/Paris",
    )
    response = client.put(
        "/api/v1/push/preferences", {"quiet_hours_start": None, "quiet_hours_end": None}, format="json"
    )
    assert response.json()["quiet_hours_start"] is None and response.json()["transfer"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"transfer": "sometimes"}, "transfer"),
        ({"vibrate": True}, "vibrate"),
    ],
)
def test_bad_preferences_are_refused_and_change_nothing(bob, body, field):
    client = native_app(bob).client
    response = client.put("/api/v1/push/preferences", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in str(error["details"])
    assert client.get("/api/v1/push/preferences").json()["timezone"] == "UTC"
