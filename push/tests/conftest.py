"""Fixtures of the push tests: the fake services wired into the settings, and a native app signed in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from firebase_admin import messaging
from rest_framework.test import APIClient

from orgs.models import Device
from orgs.tests.factories import DeviceTokenFactory
from push import providers

from .fakes import FakeAPNs, FakeGoogle, apns_signing_key


@pytest.fixture(autouse=True)
def _fresh_senders():
    providers.reset_senders()
    yield
    providers.reset_senders()


@pytest.fixture
def apns(settings, tmp_path):
    """The fake APNs, with the settings that point the real client at it."""
    fake = FakeAPNs(tmp_path)
    key_file, public_key = apns_signing_key(tmp_path)
    settings.CONNECT_APNS_KEY_FILE = str(key_file)
    settings.CONNECT_APNS_KEY_ID = "TESTKEY123"
    settings.CONNECT_APNS_TEAM_ID = "TEAM123456"
    settings.CONNECT_APNS_TOPIC = "com.bizgaze.connect"
    settings.CONNECT_APNS_SERVER = fake.address
    settings.CONNECT_APNS_CA_FILE = str(fake.cert_file)
    settings.CONNECT_PUSH_TIMEOUT_SECONDS = 2.0
    fake.public_key = public_key
    yield fake
    fake.close()


@pytest.fixture
def fcm(settings, tmp_path, monkeypatch):
    """The fake Google (OAuth2 token endpoint and FCM v1). The service account's token_uri names it; the FCM URL,
    a constant of firebase-admin, is the one thing patched (a format string, the sending code is untouched)."""
    fake = FakeGoogle()
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", fake.url + "/v1/projects/{0}/messages:send")
    credentials_file, public_key = fake.service_account(tmp_path)
    settings.CONNECT_FCM_CREDENTIALS_FILE = str(credentials_file)
    settings.CONNECT_PUSH_TIMEOUT_SECONDS = 5.0
    fake.public_key = public_key
    yield fake
    fake.close()


def native_app(user, platform=Device.Platform.ANDROID) -> SimpleNamespace:
    """A signed-in app installation of ``user``: its device and an API client holding its access token."""
    token = DeviceTokenFactory(device__user=user, device__platform=platform)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return SimpleNamespace(device=token.device, client=client)
