"""A real S3 endpoint for the recordings tests: moto's server mode on loopback, reached by boto3 and django-storages
over HTTP exactly as a bucket in production would be."""

from __future__ import annotations

import boto3
import pytest
from django.core.files.storage import storages
from moto.server import ThreadedMotoServer
from rest_framework.test import APIClient

from billing import services as billing_services

BUCKET = "connect-recordings-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint):
    """A boto3 client of the test server, with a fresh, empty bucket."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **CREDENTIALS)
    if _exists(client):
        for key in bucket_keys(client):
            client.delete_object(Bucket=BUCKET, Key=key)
    else:
        client.create_bucket(Bucket=BUCKET)
    return client


def _exists(client) -> bool:
    return any(bucket["Name"] == BUCKET for bucket in client.list_buckets().get("Buckets", []))


def bucket_keys(client) -> list[str]:
    return sorted(found["Key"] for found in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture
def s3_storage(settings, s3, s3_endpoint):
    """STORAGES["recordings"] on the test bucket, as connect.settings builds it from the environment."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": REGION,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": settings.CONNECT_RECORDINGS_URL_SECONDS,
                "file_overwrite": True,
            },
        },
    }
    _reset_storages()
    yield s3
    _reset_storages()


@pytest.fixture
def local_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "recordings", "allow_overwrite": True},
        },
    }
    _reset_storages()
    yield tmp_path / "recordings"
    _reset_storages()


def _reset_storages() -> None:
    """Django caches each storage it built (the settings fixture's signal resets it too; this makes it explicit)."""
    storages.__dict__.pop("backends", None)
    storages._backends = None
    storages._storages = {}


@pytest.fixture
def agent_client(bob):
    client = APIClient()
    client.force_login(bob)
    return client


@pytest.fixture
def plan_limits(acme):
    def change(**overrides):
        billing_services.license_change(organization=acme, overrides=overrides)

    return change


@pytest.fixture
def acme(acme):
    """Acme records its sessions when the agent chooses (an organization's policy is off until an admin sets it)."""
    acme.recording_policy = "optional"
    acme.save(update_fields=["recording_policy"])
    return acme
