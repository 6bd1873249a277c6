import base64
import hashlib

import pytest
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol import models as lk_models
from livekit.protocol import webhook as lk_webhook
from rest_framework.test import APIClient

from .fake_livekit import FakeLiveKit

KEY, SECRET = "APIfakekey", "fake-livekit-secret-of-enough-length-0123456789"


@pytest.fixture
def livekit(settings):
    fake = FakeLiveKit(KEY, SECRET).start()
    settings.LIVEKIT_URL = fake.url
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    yield fake
    fake.stop()


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def webhook_body(event: str, *, room: str, identity: str = "", at: int, event_id: str, joined_at: int = 0) -> str:
    message = lk_webhook.WebhookEvent(event=event, id=event_id, created_at=at, room=lk_models.Room(name=room))
    if identity:
        message.participant.CopyFrom(lk_models.ParticipantInfo(identity=identity, joined_at=joined_at))
    return MessageToJson(message)


def webhook_auth(body: str, *, secret: str = SECRET) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(KEY, secret).with_sha256(digest).to_jwt()
