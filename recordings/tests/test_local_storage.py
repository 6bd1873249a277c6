"""The embedded default: recordings as local files, downloaded through the server's own signed, expiring link."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.conf import settings as django_settings

from audit.models import AuditEntry
from recordings.models import Recording
from sessions.tests.factories import SupportSessionFactory

from .test_recordings import pieces, uploaded

pytestmark = pytest.mark.django_db


def test_without_a_bucket_recordings_are_local_files_under_var():
    if django_settings.CONNECT_RECORDINGS_S3_BUCKET:
        pytest.skip("CONNECT_RECORDINGS_S3_BUCKET is set in this environment")
    configured = django_settings.STORAGES["recordings"]
    assert configured["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert configured["OPTIONS"]["location"] == django_settings.VAR_DIR / "recordings"


def test_a_local_recording_downloads_through_a_signed_link(
    agent_client, client, acme, bob, local_storage, django_capture_on_commit_callbacks
):
    session = SupportSessionFactory(organization=acme, agent=bob, active=True)
    data = os.urandom(200_000)
    assert len(pieces(data)) > 1
    body = uploaded(agent_client, session, data, django_capture_on_commit_callbacks)
    recording = Recording.objects.for_org(acme).get(public_id=body["id"])
    assert (local_storage / recording.storage_key).read_bytes() == data
    assert not list((local_storage / recording.storage_key).parent.glob(f"{recording.public_id}/chunks/*"))

    link = agent_client.get(f"/api/v1/recordings/{body['id']}/download?disposition=inline").json()
    path = link["url"].removeprefix(django_settings.SITE_URL)
    response = client.get(path)  # no session: the signed link is the credential
    assert response.status_code == 200 and response["Content-Type"] == "video/webm"
    assert response["Content-Disposition"].startswith("inline")
    fetched = b"".join(response.streaming_content)
    assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(data).hexdigest()
    assert AuditEntry.objects.for_org(acme).filter(target_id=body["id"], action="recording.viewed").exists()

    assert client.get(path[:-3] + "xyz").status_code == 404  # tampered
    assert client.get(path.split("?")[0]).status_code == 404  # no token
    bad = agent_client.get(f"/api/v1/recordings/{body['id']}/download?disposition=sideways")
    assert bad.status_code == 400
