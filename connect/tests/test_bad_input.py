"""Bad input of any kind gets a 4xx in the one error shape and never a 500, on every write endpoint."""

import pytest
import yaml
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

BAD_BODIES = [
    ("{not json", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ("null", "application/json"),
    ('"a string"', "application/json"),
    ('{"name": {"nested": true}, "email": 12, "role": [], "scopes": "x", "unknown_field": 1}', "application/json"),
    ('{"name": "' + "x" * 5000 + '"}', "application/json"),
    (b"\xff\xfe not utf-8", "application/json"),
    ("a=b", "application/x-www-form-urlencoded"),
]


def _write_operations():
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    for path, operations in schema["paths"].items():
        for method in operations:
            if method in ("post", "patch", "put"):
                yield path, method


@pytest.fixture
def owner_client(acme, alice, bob):
    client = APIClient()
    client.force_login(alice)
    return client


def test_every_write_endpoint_refuses_bad_bodies_cleanly(owner_client, alice, bob):
    operations = list(_write_operations())
    assert len(operations) >= 8
    for path, method in operations:
        url = (
            path.replace("{member_id}", bob.public_id)
            .replace("{key_id}", "key_x")
            .replace("{device_id}", "dev_x")
            .replace("{invitation_id}", "inv_x")
            .replace("{client_id}", "x")
        )
        for body, content_type in BAD_BODIES:
            data = body if isinstance(body, bytes) else body.encode()
            response = owner_client.generic(method.upper(), url, data, content_type=content_type)
            if url == "/api/v1/ws-ticket":  # takes no body at all
                assert response.status_code in (200, 400, 415), (url, body)
                continue
            assert 400 <= response.status_code < 500, (method, url, body[:40], response.status_code)
            error = response.json()["error"]
            assert error["code"] and error["message"], (method, url, body[:40])
