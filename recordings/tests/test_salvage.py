"""Uploads abandoned half-way (the agent's tab closed): beat completes them from the chunks that arrived in order, in
S3, so a closed tab loses at most its last few seconds; chunks after a gap are dropped; an upload without any chunk is
marked failed; a recording still receiving chunks is left alone."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from recordings import services
from recordings.models import Recording, RecordingChunk
from sessions.models import SessionEvent
from sessions.tests.factories import SupportSessionFactory

from .conftest import BUCKET, bucket_keys
from .test_recordings import pieces, put, sha, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(acme, bob):
    return SupportSessionFactory(organization=acme, agent=bob, active=True)


def age(recording_id: str, minutes: int) -> None:
    """As if the upload started and its last chunk arrived ``minutes`` ago."""
    then = timezone.now() - timedelta(minutes=minutes)
    recording = Recording.objects.unscoped("test").get(public_id=recording_id)
    Recording.objects.for_org(recording.organization).filter(pk=recording.pk).update(created_at=then)
    RecordingChunk.objects.for_org(recording.organization).filter(recording=recording).update(created_at=then)


def test_an_abandoned_upload_is_completed_from_the_chunks_in_order(
    agent_client, acme, session, s3_storage, django_capture_on_commit_callbacks
):
    data = os.urandom(5 * 64 * 1024)
    parts = pieces(data)
    recording = start(agent_client, session)
    for index in (0, 1, 2, 4):  # chunk 3 never arrived: 4 cannot be kept
        assert put(agent_client, recording["id"], index, parts[index]).status_code == 201
    fresh = start(agent_client, session)  # still recording: its chunk arrived just now
    assert put(agent_client, fresh["id"], 0, parts[0]).status_code == 201
    empty = start(agent_client, session)
    age(recording["id"], 30)
    age(empty["id"], 30)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.recordings_salvage_abandoned()
    assert outcome == {"completed": 1, "failed": 1, "skipped": 0}
    kept = Recording.objects.for_org(acme).get(public_id=recording["id"])
    expected = b"".join(parts[:3])
    assert kept.status == Recording.Status.COMPLETE and kept.chunk_count == 3
    assert kept.size_bytes == len(expected) and kept.sha256 == sha(expected)
    body = s3_storage.get_object(Bucket=BUCKET, Key=kept.storage_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha(expected)  # the exact bytes, in order, nothing corrupt
    assert [key for key in bucket_keys(s3_storage) if recording["id"] in key] == [kept.storage_key]
    assert Recording.objects.for_org(acme).get(public_id=empty["id"]).status == Recording.Status.FAILED
    assert Recording.objects.for_org(acme).get(public_id=fresh["id"]).status == Recording.Status.UPLOADING
    events = list(SessionEvent.objects.for_org(acme).filter(session=session).values_list("type", flat=True))
    assert "recording_salvaged" in events and "recording_failed" in events

    with django_capture_on_commit_callbacks(execute=True):
        assert services.recordings_salvage_abandoned() == {"completed": 0, "failed": 0, "skipped": 0}
